package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/config"
)

// checkConfigCmd is `audit-sidecar check-config`: what run checks before
// it starts (preflight), and what run would find only by opening: the
// listen addresses are bound and closed, and the folders of the spool and
// of the SQLite sinks are writable or can be created. No sink, no spool,
// no listener stays open and no file is left behind. It prints "config
// ok", or every problem, one a line, each naming its key (exit 2): the
// config's own first (config.Load), and only once the config is valid
// those of its files, addresses and folders.
func checkConfigCmd(args []string) int {
	path, code := configFlag("check-config", args, nil)
	if path == "" {
		return code
	}
	var errs []error
	cfg, err := config.Load(path)
	if err != nil {
		errs = []error{err}
	} else {
		_, errs = preflight(cfg, zap.NewNop())
		errs = append(errs, checkListenAddrs(cfg)...)
		errs = append(errs, checkFolders(cfg)...)
	}
	if len(errs) > 0 {
		for _, err := range errs {
			// A joined error is one problem a line.
			for _, l := range strings.Split(err.Error(), "\n") {
				fmt.Fprintln(os.Stderr, "audit-sidecar: "+l)
			}
		}
		return exitUsage
	}
	fmt.Println("config ok")
	return exitOK
}

// checkListenAddrs binds each listen address and closes it at once.
func checkListenAddrs(cfg *config.Config) []error {
	var errs []error
	for _, a := range []struct{ key, addr string }{
		{"server.listen", cfg.Server.ListenAddr()},
		{"server.admin_listen", cfg.Server.AdminListen},
	} {
		if a.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", a.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.key, err))
			continue
		}
		l.Close()
	}
	return errs
}

// checkFolders checks that the spool's folder (which holds the epoch key
// file too), chain.witness_dir and each SQLite sink's folder can be
// written, or created in the nearest folder that exists.
func checkFolders(cfg *config.Config) []error {
	var errs []error
	check := func(key, path string) {
		if err := writableFolder(filepath.Dir(path)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	check("spool.path", cfg.Spool.Path)
	if cfg.Chain.WitnessDir != "" {
		if err := writableFolder(cfg.Chain.WitnessDir); err != nil {
			errs = append(errs, fmt.Errorf("chain.witness_dir: %w", err))
		}
	}
	for i, s := range cfg.Sinks {
		if s.Type == "sqlite" {
			check(fmt.Sprintf("sinks[%d].path", i), s.Path)
		}
	}
	return errs
}

// writableFolder says whether a file can be created in dir, or, if dir
// does not exist, in the nearest folder above it that does (where run
// creates it), by creating a file there and removing it.
func writableFolder(dir string) error {
	for {
		fi, err := os.Stat(dir)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("%s is not a folder", dir)
		case err == nil:
			f, err := os.CreateTemp(dir, ".check-config-*")
			if err != nil {
				return fmt.Errorf("folder not writable: %w", err)
			}
			f.Close()
			return os.Remove(f.Name())
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return err
		}
		dir = parent
	}
}
