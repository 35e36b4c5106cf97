package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// parseFlags parses a command's args with fs. With -h or --help the
// command's usage goes to stdout and the command ends with exit 0; a bad
// flag prints the error and the usage to stderr, exit 2. ok is false when
// the command ends there, with code.
func parseFlags(fs *flag.FlagSet, args []string) (ok bool, code int) {
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.Usage = func() {
		fmt.Fprintln(&out, commandUsage(fs.Name()))
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Stdout.Write(out.Bytes())
		return false, exitOK
	case err != nil:
		os.Stderr.Write(out.Bytes())
		return false, exitUsage
	}
	return true, exitOK
}

// commandUsage is the part of usage that shows the command name.
func commandUsage(name string) string {
	var b strings.Builder
	b.WriteString("usage:\n")
	in := false
	for _, l := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(l, "  audit-sidecar "+name+" ") || l == "  audit-sidecar "+name:
			in = true
		case strings.HasPrefix(l, "  audit-sidecar "):
			in = false
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}
