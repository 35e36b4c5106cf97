package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// capture runs f with os.Stdout and os.Stderr going to pipes and returns
// what it printed on each.
func capture(t *testing.T, f func() int) (code int, stdout, stderr string) {
	t.Helper()
	read := func(p **os.File) func() string {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		old := *p
		*p = w
		done := make(chan string)
		go func() { b, _ := io.ReadAll(r); done <- string(b) }()
		return func() string { *p = old; w.Close(); return <-done }
	}
	endOut, endErr := read(&os.Stdout), read(&os.Stderr)
	code = f()
	return code, endOut(), endErr()
}

// commands lists every command of the usage text, and the hidden one.
func commands() []string {
	out := []string{"spool-check"}
	for _, l := range strings.Split(usage, "\n") {
		if rest, ok := strings.CutPrefix(l, "  audit-sidecar "); ok {
			out = append(out, strings.Fields(rest)[0])
		}
	}
	return out
}

func TestDispatch_HelpExitsZero(t *testing.T) {
	cmds := commands()
	if len(cmds) < 9 {
		t.Fatalf("commands from the usage text: %v", cmds)
	}
	for _, c := range cmds {
		for _, h := range []string{"--help", "-h"} {
			code, out, errOut := capture(t, func() int { return dispatch([]string{c, h}) })
			if code != exitOK || !strings.Contains(out, "audit-sidecar "+c) || errOut != "" {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", c, h, code, out, errOut)
			}
		}
	}
}

func TestDispatch_UnknownFlagExitsTwo(t *testing.T) {
	for _, c := range commands() {
		if c == "spool-check" { // takes one path, no flags
			continue
		}
		code, out, errOut := capture(t, func() int { return dispatch([]string{c, "--no-such-flag"}) })
		if code != exitUsage || out != "" || !strings.Contains(errOut, "no-such-flag") {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q", c, code, out, errOut)
		}
	}
}
