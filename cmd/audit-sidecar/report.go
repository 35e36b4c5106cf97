package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/verify"
)

// toolFacts is what `audit-sidecar version` prints, for reports: the
// version, the VCS revision the binary was built from, Go and the
// platform, and the FIPS 140-3 facts.
func toolFacts() verify.Tool {
	f := fipsFacts()
	t := verify.Tool{Name: "audit-sidecar", Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	t.FIPS140, _ = f["fips140"].(bool)
	t.FIPS140Enforced, _ = f["fips140_enforced"].(bool)
	t.FIPS140Module, _ = f["fips140_module"].(string)
	t.GOFIPS140, _ = f["gofips140"].(string)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				t.Revision = s.Value
			case "vcs.time":
				t.RevisionTime = s.Value
			case "vcs.modified":
				t.Modified = s.Value == "true"
			}
		}
	}
	if t.Revision == "" {
		t.Revision = revision
	}
	return t
}

// reportFile is the --report file being written: a temp file beside its
// path, created before the verification runs (so that a folder that does
// not exist or cannot be written to fails at once, not after the
// verification), filled, synced and renamed once the report is known, so
// that a reader never sees half a report.
type reportFile struct {
	path string
	f    *os.File
}

// createReport checks that path can take the report and creates its temp
// file.
func createReport(path string) (*reportFile, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("--report %s is a folder: give the report's file name", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("--report: %w", err)
	}
	return &reportFile{path: path, f: f}, nil
}

// commit writes rep to the temp file and renames it to the report's path.
// The temp file is removed if anything fails.
func (r *reportFile) commit(rep *verify.Report) error {
	tmp := r.f.Name()
	defer os.Remove(tmp) // after the rename: no such file, no harm
	f := r.f
	r.f = nil
	if err := verify.WriteHTML(f, rep); err != nil {
		f.Close()
		return fmt.Errorf("--report: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("--report: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("--report: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return nil
}

// abort removes the temp file of a report that is not committed (a no-op
// after commit).
func (r *reportFile) abort() {
	if r == nil || r.f == nil {
		return
	}
	r.f.Close()
	os.Remove(r.f.Name())
	r.f = nil
}

// exitAfterReportFailure is the exit code of a verification whose report
// could not be written after it ran (the verdict is printed all the
// same): 1 when the verdict is invalid, so that a proven tampering is
// never hidden behind an I/O error; 2 otherwise, so that a script never
// takes a missing report for success.
func exitAfterReportFailure(verdict string) int {
	if verdict == verify.Invalid {
		return exitFailure
	}
	return exitUsage
}

// verifyInput names what verify reads, for the report: the export file,
// or the sink (its name and type, never its DSN) and the config file.
func verifyInput(cfg *config.Config, cfgPath, sinkName, file string) string {
	if file != "" {
		return "export file " + file
	}
	if s := selectSink(cfg, sinkName); s != nil {
		return fmt.Sprintf("%s sink %q of %s", s.Type, s.Name, cfgPath)
	}
	return "config " + cfgPath
}
