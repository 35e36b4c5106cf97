package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWritableFolder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir string
		ok        bool
	}{
		{"an existing folder", dir, true},
		{"folders to create below one", filepath.Join(dir, "a", "b"), true},
		{"a file", file, false},
		{"below a file", filepath.Join(file, "a"), false},
		{"a read-only folder", readOnly, os.Geteuid() == 0}, // root writes anyway
		{"below a read-only folder", filepath.Join(readOnly, "a"), os.Geteuid() == 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := writableFolder(tt.dir); (err == nil) != tt.ok {
				t.Errorf("writableFolder(%s) = %v, want ok %v", tt.dir, err, tt.ok)
			}
		})
	}
	// Nothing made, nothing left.
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a folder was made: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
}
