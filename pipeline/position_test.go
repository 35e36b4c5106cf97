package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// legacyResume is how a sidecar that reads only version 0 reads a stored
// position (the code before versions): by trial.
func legacyResume(b []byte) (*tailer.Position, map[string]tailer.Position, error) {
	var files struct {
		Files map[string]tailer.Position `json:"files"`
	}
	if json.Unmarshal(b, &files) == nil && files.Files != nil {
		return nil, files.Files, nil
	}
	var p tailer.Position
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, nil, err
	}
	return &p, nil, nil
}

// Version 1 says its version and kind, round-trips, and reads the same to
// a sidecar that knows only version 0 (a rollback resumes too); version 0
// is still read.
func TestPosition_Encoding(t *testing.T) {
	p := tailer.Position{Path: "/log/a.jsonl", Dev: 7, Ino: 9, Head: "abc", HeadLen: 3, Offset: 1 << 40, MTime: 5,
		Read: []tailer.ReadGen{{Dev: 7, Ino: 8}}, Tail: tailer.Digest{1, 2}, TailLen: 64}
	files := map[string]tailer.Position{"/log/a.jsonl": p, "/log/b.jsonl": {Path: "/log/b.jsonl", Offset: 3}}

	one, err := EncodeFilePosition(p)
	if err != nil {
		t.Fatal(err)
	}
	several, err := encodeFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		enc  []byte
		want string
	}{{one, `{"v":1,"kind":"file","path":"/log/a.jsonl",`}, {several, `{"v":1,"kind":"files","files":{`}} {
		if !strings.HasPrefix(string(tc.enc), tc.want) {
			t.Errorf("encoded %s, want it to begin %s", tc.enc, tc.want)
		}
	}
	for _, tc := range []struct {
		name   string
		b      []byte
		single *tailer.Position
		files  map[string]tailer.Position
	}{
		{"v1 file", one, &p, nil},
		{"v1 files", several, nil, files},
		{"v0 file", mustJSON(t, p), &p, nil},
		{"v0 files", mustJSON(t, map[string]any{"files": files}), nil, files},
		{"v0 no files", []byte(`{"files":{}}`), nil, map[string]tailer.Position{}},
		{"none", nil, nil, nil},
	} {
		single, got, err := decodePosition(tc.b)
		if err != nil || !reflect.DeepEqual(single, tc.single) || !reflect.DeepEqual(got, tc.files) {
			t.Errorf("%s: decoded %+v, %+v, %v; want %+v, %+v", tc.name, single, got, err, tc.single, tc.files)
		}
		if tc.b == nil {
			continue
		}
		single, got, err = legacyResume(tc.b)
		if err != nil || !reflect.DeepEqual(single, tc.single) || !reflect.DeepEqual(got, tc.files) {
			t.Errorf("%s: a version 0 reader reads %+v, %+v, %v; want %+v, %+v", tc.name, single, got, err, tc.single, tc.files)
		}
	}
	for _, b := range []string{`{"v":2,"kind":"file","path":"/x"}`, `{"v":1,"kind":"dir"}`, `{"v":1}`, `[1]`, `{"offset":"x"}`, `{"v":1,"kind":"files","files":[]}`} {
		if s, f, err := decodePosition([]byte(b)); err == nil {
			t.Errorf("%s decoded as %+v, %+v", b, s, f)
		}
	}
	if _, _, err := decodePosition([]byte(`{"v":2}`)); !errors.Is(err, errPositionVersion) {
		t.Errorf("a newer version: %v", err)
	}
}

// What a run commits is version 1: the file's position, or every file's.
func TestIngest_CommitsVersion1Positions(t *testing.T) {
	for _, multi := range []bool{false, true} {
		sp, err := spool.Open(t.TempDir()+"/spool.db", spool.Options{})
		if err != nil {
			t.Fatal(err)
		}
		in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, Multi: multi})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range sourceLines(4, multi) {
			in.handle(l)
		}
		if err := in.commit(context.Background()); err != nil {
			t.Fatal(err)
		}
		var h struct {
			V    int    `json:"v"`
			Kind string `json:"kind"`
		}
		src := sp.State().Source
		if err := json.Unmarshal(src, &h); err != nil || h.V != 1 || h.Kind != map[bool]string{false: "file", true: "files"}[multi] {
			t.Errorf("multi %v: committed %s", multi, src)
		}
		single, files, err := decodePosition(src)
		if err != nil || multi != (files != nil) || multi == (single != nil) {
			t.Errorf("multi %v: %s decodes to %+v, %+v, %v", multi, src, single, files, err)
		}
		sp.Close()
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
