package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/verify"
)

// A report that cannot be written once the verification ran leaves the
// verdict printed and exits 1 for invalid (a proven tampering is never
// hidden behind an I/O error), 2 otherwise (a missing report is never
// taken for success); nothing is left at the report's path.
func TestVerifyReport_FailureAfterTheVerdict(t *testing.T) {
	for verdict, want := range map[string]int{verify.Invalid: exitFailure, verify.Valid: exitUsage, verify.Unverifiable: exitUsage} {
		if got := exitAfterReportFailure(verdict); got != want {
			t.Errorf("verdict %s: exit %d, want %d", verdict, got, want)
		}
	}
	dir := filepath.Join(t.TempDir(), "reports")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "r.html")
	rf, err := createReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil { // the folder goes while verify runs
		t.Fatal(err)
	}
	if err := rf.commit(&verify.Report{Verdict: verify.Invalid}); err == nil || !strings.Contains(err.Error(), "--report") {
		t.Errorf("commit into a removed folder: %v, want an error naming --report", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a report was left at its path")
	}

	// A folder that is missing fails before anything is verified.
	if _, err := createReport(filepath.Join(t.TempDir(), "missing", "r.html")); err == nil || !strings.Contains(err.Error(), "--report") {
		t.Errorf("createReport in a missing folder: %v", err)
	}
}

// The report's path may be none of the files verify reads: not by name,
// not through a symbolic or a hard link, not the store's -wal, -shm or
// -journal file (which may not exist yet), not a folder.
func TestCheckReportPath(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "data", "audit.db")
	if err := os.MkdirAll(filepath.Dir(store), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{store, filepath.Join(dir, "export.ndjson"), filepath.Join(dir, "hmac.key")} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(store, filepath.Join(dir, "sym")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "export.ndjson"), filepath.Join(dir, "hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "data"), filepath.Join(dir, "datalink")); err != nil {
		t.Fatal(err)
	}
	reads := []readFile{{filepath.Join(dir, "export.ndjson"), "the export"}, {store, "the store"}, {store + "-wal", "the -wal"},
		{store + "-shm", "the -shm"}, {store + "-journal", "the -journal"}, {filepath.Join(dir, "hmac.key"), "a key"}}
	for _, bad := range []string{
		store, filepath.Join(dir, "data", ".", "audit.db"), filepath.Join(dir, "sym"), filepath.Join(dir, "hard"),
		store + "-wal", filepath.Join(dir, "datalink", "audit.db-shm"), filepath.Join(dir, "datalink", "audit.db"),
		filepath.Join(dir, "hmac.key"), filepath.Join(dir, "data"),
	} {
		if err := checkReportPath(bad, reads); err == nil || !strings.Contains(err.Error(), "--report") {
			t.Errorf("--report %s: %v, want refused", bad, err)
		}
	}
	for _, ok := range []string{filepath.Join(dir, "report.html"), filepath.Join(dir, "data", "report.html")} {
		if err := checkReportPath(ok, reads); err != nil {
			t.Errorf("--report %s: %v", ok, err)
		}
	}
}
