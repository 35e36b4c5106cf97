package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
)

// redactCmd reads lines on stdin and writes them redacted: a line that is
// JSON is redacted value by value (as the sidecar does); any other line is
// redacted as one string.
func redactCmd(args []string) int {
	cfg, code := loadConfig("redact", args, nil)
	if cfg == nil {
		return code
	}
	red, err := newRedactor(cfg)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var buf []byte
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			text := line
			if text[len(text)-1] == '\n' {
				text = text[:len(text)-1]
			}
			buf = buf[:0]
			if json.Valid(text) {
				if b, err := red.JSON(buf, text, nil); err == nil {
					buf = b
				} else {
					buf = append(buf, `"[REDACTED:UNPROCESSABLE]"`...)
				}
			} else {
				buf = append(buf, red.String(string(text), nil)...)
			}
			out.Write(append(buf, '\n'))
		}
		if err == io.EOF {
			return exitOK
		}
		if err != nil {
			return fail(exitUsage, "redact: read stdin: %v", err)
		}
	}
}
