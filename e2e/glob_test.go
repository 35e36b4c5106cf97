package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// source.path as a glob: every matching file is tailed with its own
// position, files that appear later are read from their start, a rotated
// file stays with its own tailer, and a kill -9 loses or repeats nothing.
func TestE2E_GlobSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := filepath.Join(e.dir, "pods")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pattern := filepath.Join(dir, "*.log")
	writeFile(t, e.cfgPath, []byte(strings.Replace(e.configYAML(""), "  path: "+e.logPath+"\n", "  path: "+pattern+"\n", 1)))
	n := 0
	write := func(file string, count int) {
		var b strings.Builder
		for range count {
			b.WriteString(event(map[string]any{"action": "tool_call", "tool": "search", "file": file, "n": n}))
			n++
		}
		appendLines(t, filepath.Join(dir, file), b.String())
	}
	write("a.log", 10)
	write("b.log", 10)
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 20, p)

	write("c.log", 10) // a file that starts to match later
	waitForEvents(t, db, 30, p)
	write("a.log", 3)
	p.kill9(t)
	write("a.log", 2)
	write("b.log", 5)
	write("c.log", 5)
	p = e.start(t)
	waitForEvents(t, db, 45, p)

	// a.log rotates: its rest and the new a.log are read, a.log.1 is not
	// tailed as a file of its own.
	write("a.log", 2)
	if err := os.Rename(filepath.Join(dir, "a.log"), filepath.Join(dir, "a.log.1")); err != nil {
		t.Fatal(err)
	}
	write("a.log", 5)
	waitForEvents(t, db, n, p)
	p.stop(t)
	requireExactlyOnce(t, db, n)
	var files int
	if err := db.QueryRow(`SELECT count(DISTINCT json_extract(payload, '$.source.ino')) FROM audit_records WHERE json_extract(payload, '$.detail.n') IS NOT NULL`).Scan(&files); err != nil {
		t.Fatal(err)
	}
	if files != 4 {
		t.Errorf("records come from %d file generations, want 4 (a, a rotated, b, c)", files)
	}
	requireValid(t, e.cfgPath)
}
