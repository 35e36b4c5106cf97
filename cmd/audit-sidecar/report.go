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
	return t
}

// writeReportFile writes rep as HTML to path: a temp file beside it,
// synced, then renamed, so that a reader never sees half a report.
func writeReportFile(path string, rep *verify.Report) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: no such file, no harm
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
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return nil
}

// verifyInput names what verify reads, for the report: the export file,
// or the sink (its name and type, never its DSN) and the config file.
func verifyInput(cfg *config.Config, cfgPath, sinkName, file string) string {
	if file != "" {
		return "export file " + file
	}
	if sinkName == "" {
		sinkName = cfg.Server.QuerySink
	}
	for _, s := range cfg.Sinks {
		if (sinkName == "" || s.Name == sinkName) && (s.Type == "sqlite" || s.Type == "postgres") {
			return fmt.Sprintf("%s sink %q of %s", s.Type, s.Name, cfgPath)
		}
	}
	return "config " + cfgPath
}
