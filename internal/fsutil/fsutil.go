// Package fsutil holds the file-system steps that make a change durable
// and that several packages need alike.
package fsutil

import (
	"fmt"
	"os"
)

// SyncDir fsyncs the folder dir, so that the names created, renamed or
// removed in it survive a crash (a file's own fsync does not make its name
// durable). Its error says the change may not survive: callers return it.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync folder %q: %w", dir, err)
	}
	return nil
}
