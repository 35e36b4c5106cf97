package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/config"
)

// TestKeyMissingHint: only a chain.key_file that cannot be read, with
// epochs on (where an epoch key file could have stood in for it), gets
// the operator's instructions; other errors are left as they are.
func TestKeyMissingHint(t *testing.T) {
	on, off := time.Minute, time.Duration(0)
	keyErr := errors.New(`chain.key_file: read key file "/k/hmac.key": no such file or directory`)
	prevErr := errors.New(`chain.previous_key_files[0]: read key file "/k/old.key": no such file or directory`)
	for _, tc := range []struct {
		name  string
		epoch *time.Duration
		err   error
		hint  bool
	}{
		{"key file, epochs on", &on, keyErr, true},
		{"key file, epochs off", &off, keyErr, false},
		{"previous key file", &on, prevErr, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Chain: config.Chain{Epoch: tc.epoch}, Spool: config.Spool{Path: "/var/lib/audit-sidecar/spool.db"}}
			got := keyMissingHint(cfg, tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("%v does not wrap the error", got)
			}
			hinted := strings.Contains(got.Error(), `no epoch key file at "/var/lib/audit-sidecar/spool.db.epoch-key"`) &&
				strings.Contains(got.Error(), "mount the key of epoch 1 as chain.key_file for one start")
			if hinted != tc.hint {
				t.Errorf("hint %v, want %v: %v", hinted, tc.hint, got)
			}
		})
	}
}
