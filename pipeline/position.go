package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fips-agents/audit-sidecar/tailer"
)

// The source position is committed with each batch (spool.State.Source)
// as a JSON object. Its encoding is frozen: a spool outlives the binary
// that wrote it, in both directions.
//
// Version 1 says what it is: "v":1 and "kind", which is
//
//   - "file": one file; the members of its tailer.Position sit beside v
//     and kind, as in version 0;
//   - "files": several files (tailer.Multi); "files" maps the name that
//     matched the pattern to each file's tailer.Position, as in version 0.
//
// Version 0, written before, has no "v": an object with "files" holds
// several files, anything else is one tailer.Position. It is still read
// (a spool written then resumes where it stopped). Version 1 keeps
// version 0's members where they were, so a sidecar that reads only
// version 0 reads version 1 the same (a rollback resumes too).
const (
	positionVersion = 1
	kindFile        = "file"
	kindFiles       = "files"
)

// filePosition is version 1 of a single file's position. Position is
// embedded so that its members stay at the top level (version 0's place).
type filePosition struct {
	V    int    `json:"v"`
	Kind string `json:"kind"`
	tailer.Position
}

// filesPosition is version 1 of a multi-file source's positions.
type filesPosition struct {
	V     int                        `json:"v"`
	Kind  string                     `json:"kind"`
	Files map[string]tailer.Position `json:"files"`
}

// positionHeader is what a stored position says of itself.
type positionHeader struct {
	V     *int            `json:"v"`
	Kind  string          `json:"kind"`
	Files json.RawMessage `json:"files"`
}

// errPositionVersion says a stored position is of a version this binary
// does not know (written by a newer sidecar).
var errPositionVersion = errors.New("unknown version")

// EncodeFilePosition is the stored form of one file's position
// (spool.State.Source), as a commit stores it and Resume and ResumeAll
// read it. Whatever seeds a spool with a position (the recovery of a lost
// or corrupt spool) stores it in this form, so that there is one encoding.
func EncodeFilePosition(p tailer.Position) ([]byte, error) {
	return json.Marshal(filePosition{V: positionVersion, Kind: kindFile, Position: p})
}

// encodeFiles is the stored form of a multi-file source's positions.
func encodeFiles(files map[string]tailer.Position) ([]byte, error) {
	return json.Marshal(filesPosition{V: positionVersion, Kind: kindFiles, Files: files})
}

// decodePosition reads a stored position of any version: one file's
// (single) or several files' (files), or neither when b is nil.
func decodePosition(b []byte) (single *tailer.Position, files map[string]tailer.Position, err error) {
	if b == nil {
		return nil, nil, nil
	}
	var h positionHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, nil, fmt.Errorf("spool source position: %w", err)
	}
	kind := h.Kind
	switch {
	case h.V == nil: // version 0: several files when "files" is there
		kind = kindFile
		if h.Files != nil && string(h.Files) != "null" {
			kind = kindFiles
		}
	case *h.V != positionVersion:
		return nil, nil, fmt.Errorf("spool source position: %w %d (this sidecar reads versions up to %d)", errPositionVersion, *h.V, positionVersion)
	}
	switch kind {
	case kindFile:
		var p tailer.Position
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, nil, fmt.Errorf("spool source position: %w", err)
		}
		return &p, nil, nil
	case kindFiles:
		if err := json.Unmarshal(h.Files, &files); err != nil {
			return nil, nil, fmt.Errorf("spool source position: %w", err)
		}
		if files == nil {
			files = map[string]tailer.Position{}
		}
		return nil, files, nil
	}
	return nil, nil, fmt.Errorf("spool source position: kind %q unknown", kind)
}

// positions is the source position to commit with the next batch: for a
// single file, the position just past the batch's last line; for a
// multi-file source (multi), every file's position, committed and new, by
// the name that matched (Line.Watch).
type positions struct {
	multi     bool
	single    tailer.Position // valid when hasSingle
	hasSingle bool            // false: unchanged since the last commit (a field, not a pointer: no allocation per line)
	files     map[string]tailer.Position
	dirty     bool // a file's position changed since the last commit
}

// advance sets the position of the file watch (single file: "") to next.
func (p *positions) advance(watch string, next tailer.Position) {
	if p.multi {
		p.files[watch] = next
		p.dirty = true
		return
	}
	p.single, p.hasSingle = next, true
}

// pending reports whether a position is waiting for a commit.
func (p *positions) pending() bool { return p.hasSingle || p.dirty }

// encode is what the next commit stores (nil: the stored one stays).
func (p *positions) encode() ([]byte, error) {
	var b []byte
	var err error
	switch {
	case p.hasSingle:
		b, err = EncodeFilePosition(p.single)
	case p.dirty:
		b, err = encodeFiles(p.files)
	}
	if err != nil {
		return nil, fmt.Errorf("encode source position: %w", err)
	}
	return b, nil
}

// committed says the encoded position is stored.
func (p *positions) committed() { p.hasSingle, p.dirty = false, false }
