package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/verify"
)

// storeCloser is a sink that verify and export read.
type storeCloser interface {
	verify.Store
	Close() error
}

// openedSink is the sink verify and export read, opened read-only.
type openedSink struct {
	cfg   *config.Sink
	store storeCloser // noStore when the database holds no audit store
	// notAStore says why the database holds no audit store (nil: it does).
	notAStore *sink.NotAStoreError
}

// selectSink returns the named sqlite or postgres sink of cfg: name, else
// server.query_sink, else the first one; nil if there is none.
func selectSink(cfg *config.Config, name string) *config.Sink {
	if name == "" {
		name = cfg.Server.QuerySink
	}
	for i := range cfg.Sinks {
		s := &cfg.Sinks[i]
		if (name == "" || s.Name == name) && (s.Type == "sqlite" || s.Type == "postgres") {
			return s
		}
	}
	return nil
}

// openVerifySink opens the named (or default) sqlite or postgres sink of
// cfg read-only (sink.OpenSQLiteReadOnly, sink.OpenPostgresReadOnly):
// verify and export never write to the evidence they read. A database
// that holds no audit store is returned with notAStore set and an empty
// store, for the caller to judge; nil and an exit code on any other
// failure.
func openVerifySink(cfg *config.Config, name string) (*openedSink, int) {
	sc := selectSink(cfg, name)
	if sc == nil {
		if name == "" {
			name = cfg.Server.QuerySink
		}
		return nil, fail(exitUsage, "no sqlite or postgres sink named %q in the config", name)
	}
	var st storeCloser
	var err error
	switch sc.Type {
	case "sqlite":
		st, err = sink.OpenSQLiteReadOnly(sc.Path)
	default:
		st, err = sink.OpenPostgresReadOnly(context.Background(), sc.DSN)
	}
	var nas *sink.NotAStoreError
	switch {
	case errors.As(err, &nas):
		return &openedSink{cfg: sc, store: noStore{}, notAStore: nas}, exitOK
	case err != nil:
		return nil, fail(exitUsage, "sinks %s: %v", sc.Name, err)
	}
	return &openedSink{cfg: sc, store: st}, exitOK
}

// unchanged says whether the store read is still as it was opened (see
// sink.SQLite.Unchanged): nil, or why what was read may be inconsistent.
func (o *openedSink) unchanged() error {
	if u, ok := o.store.(interface{ Unchanged() error }); ok {
		return u.Unchanged()
	}
	return nil
}

// noStore is a database that holds no audit store: no chain, no record.
type noStore struct{}

func (noStore) Chains(context.Context) ([]string, error)                 { return nil, nil }
func (noStore) Scan(context.Context, string, func(sink.Row) error) error { return nil }
func (noStore) Close() error                                             { return nil }

// problemLine is how verify prints a problem: a problem of the input as a
// whole (no chain, no seq) by its reason alone, as
// tools/verify_export.py prints it; the others as VerifyError.Error
// (chain id quoted, seq).
func problemLine(e *chain.VerifyError) string {
	if e.Chain == "" && e.Seq == 0 {
		return e.Reason
	}
	return e.Error()
}

// readFile is a file verify reads, for checkReportPath: its path and what
// it is, in words.
type readFile struct{ path, what string }

// verifyReads lists the files verify reads with these flags and config
// (cfg nil for --file): the export or the sink's database file with its
// -wal, -shm and -journal files, the config, the keys, the checkpoint
// file and the witness folders' files.
func verifyReads(cfg *config.Config, sc *config.Sink, cfgPath, file string, keyFiles, pubkeys []string, witnessDir, ckptFile string) []readFile {
	var out []readFile
	witnessDirs := []string{witnessDir}
	if cfg != nil {
		for _, k := range append([]string{cfg.Chain.KeyFile, cfg.Chain.SigningKeyFile}, cfg.Chain.PreviousKeyFiles...) {
			if k != "" {
				out = append(out, readFile{k, "a key file of the config"})
			}
		}
		witnessDirs = append(witnessDirs, cfg.Chain.WitnessDir)
	}
	if file != "" {
		out = append(out, readFile{file, "the export being verified"})
	}
	if sc != nil && sc.Type == "sqlite" {
		out = append(out, readFile{sc.Path, "the database file of the sink being verified"})
		for _, s := range []string{"-wal", "-shm", "-journal"} {
			out = append(out, readFile{sc.Path + s, "the " + s + " file of the sink being verified"})
		}
	}
	if cfgPath != "" {
		out = append(out, readFile{cfgPath, "the config file"})
	}
	for _, k := range keyFiles {
		out = append(out, readFile{k, "a --key-file"})
	}
	for _, k := range pubkeys {
		out = append(out, readFile{k, "a --pubkey file"})
	}
	if ckptFile != "" {
		out = append(out, readFile{ckptFile, "the --checkpoint file"})
	}
	for _, d := range witnessDirs {
		if d == "" {
			continue
		}
		if paths, err := filepath.Glob(filepath.Join(d, "*")); err == nil {
			for _, p := range paths {
				out = append(out, readFile{p, "a file of a witness folder"})
			}
		}
	}
	return out
}

// checkReportPath refuses a --report path that is a folder or one of the
// files verify reads: the report is renamed over its path, which would
// replace the evidence. Files are compared by device and inode when both
// exist (a symbolic or hard link to the store is the store) and by their
// resolved names otherwise (a -wal file that does not exist yet).
func checkReportPath(report string, reads []readFile) error {
	if fi, err := os.Stat(report); err == nil && fi.IsDir() {
		return fmt.Errorf("--report %s is a folder: give the report's file name", report)
	}
	for _, r := range reads {
		if sameFile(report, r.path) {
			return fmt.Errorf("--report %s is %s (%s): the report would replace it; choose another path", report, r.what, r.path)
		}
	}
	return nil
}

// sameFile reports whether paths a and b name the same file: by device
// and inode when both exist, else by their names with every symbolic link
// of their folders resolved.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	return resolvedPath(a) == resolvedPath(b)
}

// resolvedPath is p made absolute, with symbolic links resolved: the whole
// path when it exists, else its folder.
func resolvedPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(r, filepath.Base(abs))
	}
	return abs
}
