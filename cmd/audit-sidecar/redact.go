package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"io"
	"os"

	"github.com/fips-agents/audit-sidecar/redact"
)

// redactCmd reads lines on stdin and writes them redacted: a line that is
// JSON is redacted value by value (as the sidecar does); any other line is
// redacted as one string. With --explain it writes instead one JSON line
// per replacement: line number, rule, type, action, path and byte offsets,
// never the text replaced.
func redactCmd(args []string) int {
	var explain bool
	cfg, code := loadConfig("redact", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&explain, "explain", false, "print each replacement (rule, type, path, offsets) instead of the output")
	})
	if cfg == nil {
		return code
	}
	red, err := newRedactor(cfg)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	if err := redactLines(os.Stdin, out, red, explain); err != nil {
		return fail(exitUsage, "redact: %v", err)
	}
	return exitOK
}

// explainRecord is one line of --explain output.
type explainRecord struct {
	Line   int    `json:"line"`
	Rule   string `json:"rule"`
	Type   string `json:"type"`
	Action string `json:"action"`
	Path   string `json:"path,omitempty"`
	Key    bool   `json:"key,omitempty"`
	Start  int    `json:"start"`
	End    int    `json:"end"`
}

// redactLines redacts (or explains) every line of in onto out.
func redactLines(in io.Reader, out io.Writer, red *redact.Redactor, explain bool) error {
	rd := bufio.NewReaderSize(in, 1<<20)
	enc := json.NewEncoder(out)
	var buf []byte
	for n := 1; ; n++ {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 {
			text := line
			if text[len(text)-1] == '\n' {
				text = text[:len(text)-1]
			}
			buf = buf[:0]
			var hits []redact.Hit
			if json.Valid(text) {
				b, h, err := red.ExplainJSON(buf, text, "", nil)
				if err == nil {
					buf, hits = b, h
				} else {
					buf = append(buf, `"`+redact.Unprocessable+`"`...)
					hits = []redact.Hit{{Rule: "builtin:" + redact.TypeUnprocessable, Type: redact.TypeUnprocessable, Action: "mask", End: len(text)}}
				}
			} else {
				s, h := red.ExplainString(string(text), nil)
				buf, hits = append(buf, s...), h
			}
			if explain {
				for _, h := range hits {
					rec := explainRecord{Line: n, Rule: h.Rule, Type: h.Type, Action: h.Action, Path: h.Path, Key: h.Key, Start: h.Start, End: h.End}
					if err := enc.Encode(rec); err != nil {
						return err
					}
				}
			} else if _, err := out.Write(append(buf, '\n')); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
