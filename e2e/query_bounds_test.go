package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestE2E_Export_TimeOutsideYears1To9999 runs `audit-sidecar export` with
// --from and --to outside the years 0001 to 9999 in UTC: the stores
// compare times as fixed-width text, so such a bound would select by the
// order of its digits (9999-12-31T23:59:59-23:59, in the year 10000 in
// UTC, once selected every record). Each is exit 2 naming the flag; the
// edges of the range are accepted.
func TestE2E_Export_TimeOutsideYears1To9999(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b strings.Builder
	for n := range 20 {
		b.WriteString(event(map[string]any{"ts": httpBase.Add(time.Duration(n) * time.Second).Format(time.RFC3339Nano),
			"action": "tool_call", "tool": "search", "n": n}))
	}
	appendLines(t, e.logPath, b.String())
	p := e.start(t)
	waitForEvents(t, openDB(t, e.dbPath), 20, p)
	p.stop(t)

	export := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, append([]string{"export", "--config", e.cfgPath}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		var ee *exec.ExitError
		if err := cmd.Run(); err != nil && !errors.As(err, &ee) {
			t.Fatalf("export %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	for _, flag := range []string{"--from", "--to"} {
		for _, v := range []string{"9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "0000-06-01T00:00:00Z"} {
			code, out, errs := export(flag, v)
			want := fmt.Sprintf("export: %s: must be a time in the years 0001 to 9999 UTC", flag)
			if code != 2 || out != "" || !strings.Contains(errs, want) {
				t.Errorf("export %s %s: exit %d, %d bytes out, stderr %q; want exit 2, nothing out, %q", flag, v, code, len(out), errs, want)
			}
		}
	}
	// The edges of the range: everything is after the first instant and
	// before the last.
	code, out, errs := export("--from", "0001-01-01T01:00:00+01:00", "--to", "9999-12-31T00:59:59-23:00")
	if code != 0 || strings.Count(out, `"tool":"search"`) != 20 {
		t.Errorf("export over the whole range: exit %d, %d events; stderr %s", code, strings.Count(out, `"tool":"search"`), errs)
	}
}
