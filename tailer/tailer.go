package tailer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Defaults for the zero values of Config, and the StartAt values.
const (
	DefaultPoll         = 250 * time.Millisecond
	DefaultMaxLineBytes = 16 << 20
	DefaultRotateDrain  = 5 * time.Second

	StartBeginning = "beginning"
	StartEnd       = "end"
)

// Config says which file to tail and how. The zero value of every field but
// Path means its default.
type Config struct {
	// Path is the file the agent writes; rotated generations are looked for
	// beside it (see the package doc).
	Path string
	// StartAt is StartBeginning (the default) or StartEnd. It is used only
	// when there is no resume Position and the file exists at start; a file
	// that appears later is always read from its first byte. StartEnd
	// starts after the last complete line, so that a line being written at
	// start is read whole rather than as a fragment.
	StartAt string
	// Poll is how often the file is checked when no notification arrives
	// (inotify can overflow or be unavailable). Default DefaultPoll.
	Poll time.Duration
	// MaxLineBytes caps Line.Text; longer lines are cut (see Line.Truncated).
	// Default DefaultMaxLineBytes.
	MaxLineBytes int
	// RotateDrain is how long a rotated-away generation keeps being read
	// after the rotation is noticed, for writers that still append to their
	// old descriptor. Lines of newer generations wait for it. Default
	// DefaultRotateDrain.
	RotateDrain time.Duration
	// AllowedDirs are the folders the path, and every rotated generation,
	// may resolve into through symbolic links; a file resolving elsewhere
	// is refused. Empty means the folder of Path (for a pattern, the
	// deepest folder above its first wildcard).
	AllowedDirs []string
	// Deny are files never read whatever the path resolves to: the
	// sidecar's own keys, tokens, spool and sinks. A hard link to one of
	// them is refused too.
	Deny []string
	// Rotated says which names beside the path are its rotated
	// generations: styles of RotatedStyles or /regular expressions/ of
	// the suffix after the base name. Empty means DefaultRotated.
	Rotated []string
	// policyPinned: AllowedDirs and Deny are resolved already (pinned).
	policyPinned bool
	// Logger gets warnings about lost ranges and retried errors; nil means
	// zap.NewNop().
	Logger *zap.Logger
	// Observer, if set, is told of rotations, truncations and losses as
	// they are found (for metrics). It is called from the tailer's
	// goroutine.
	Observer Observer
	// checked, when set, is called with Path at the end of each check of
	// the path and its generations, from the tailer's goroutine: tests
	// wait for checks to have been done instead of for a duration.
	checked func(path string)
	// listing, a test hook, is called when a look that found the path
	// rotated is about to list its siblings (after it opened the path's
	// new file).
	listing func()
	// afterRead, a test hook, is called between a read of data and the
	// read of the file's first bytes that checks it.
	afterRead func()
}

// Observer counts what the tailer finds. Each call matches a log line.
type Observer interface {
	// Rotated: a new generation was found at the path (a rotation, or the
	// file appearing).
	Rotated()
	// Truncated: a generation was truncated or rewritten and is read again
	// from its first byte.
	Truncated()
	// Lost: bytes of the source could not be read (-1: how many is not
	// known): a rotated generation that could not be opened or was gone, a
	// rotated file ending in an incomplete line.
	Lost(bytes int64)
	// Refused: a file was not read because the source policy forbids it
	// (reason is one of the Refused* constants).
	Refused(reason string)
}

type nopObserver struct{}

func (nopObserver) Rotated()       {}
func (nopObserver) Truncated()     {}
func (nopObserver) Lost(int64)     {}
func (nopObserver) Refused(string) {}

// Position is where reading resumes: the generation and the byte offset just
// past the last line handed out and committed. It is what the caller persists.
type Position struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Head    string `json:"head,omitempty"`
	HeadLen int    `json:"head_len,omitempty"`
	Offset  int64  `json:"offset"`
	// MTime is the generation's modification time (Unix ns) when last
	// looked at: if the generation is gone at the next start, the
	// siblings modified after it are the generations newer than it.
	MTime int64 `json:"mtime,omitempty"`
	// Read are the generations last finished before this one (at most
	// MaxReadHistory, oldest first): after a restart they are known not
	// to be new, whatever their names and times say now (a copytruncate
	// copy read before, an older generation with the same coarse time).
	Read []ReadGen `json:"read,omitempty"`
	// Queued are the generations queued to be read after this one, in
	// reading order (at most MaxQueued; those with no byte yet are left
	// out): after a restart the ones still on disk are read in that order,
	// before any other. Times alone would pass over one of them that
	// looks older than this one: a copytruncate copy of bytes never read,
	// found after the lines written to the file since had been read.
	Queued []ReadGen `json:"queued,omitempty"`
	// Opened is the generation's modification time (Unix ns) when the
	// tailer first opened it. A sibling modified since then but not after
	// MTime, and neither read (Read), queued, nor a copy of this
	// generation's bytes, is a copytruncate copy of bytes it held before
	// a truncation, never read: a restart reads it, even when no
	// committed position had it queued yet (found just before a kill, or
	// not found at all).
	Opened int64 `json:"opened,omitempty"`
	// Tail is the SHA-256 of the TailLen (at most TailSize) bytes just
	// before Offset: the end of the last line read. A copytruncate copy of
	// the generation holds them at the same place; another generation
	// that merely starts alike does not.
	Tail    Digest `json:"tail,omitzero"`
	TailLen int    `json:"tail_len,omitempty"`
}

// Digest is a SHA-256, written in JSON as lowercase hex.
type Digest [32]byte

// MarshalText writes d as hex.
func (d Digest) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, d[:]), nil }

// UnmarshalText reads hex.
func (d *Digest) UnmarshalText(b []byte) error {
	if len(b) != 2*len(d) {
		return fmt.Errorf("digest: %d hex digits, want %d", len(b), 2*len(d))
	}
	_, err := hex.Decode(d[:], b)
	return err
}

// ReadGen names a generation read to its end: device, inode and the
// fingerprint of its first bytes (see FileID).
type ReadGen struct {
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Head    string `json:"head,omitempty"`
	HeadLen int    `json:"head_len,omitempty"`
}

// MaxReadHistory bounds Position.Read. Generations no longer on disk
// are dropped from it first.
const MaxReadHistory = 32

// MaxQueued bounds Position.Queued.
const MaxQueued = 32

// IsZero reports whether p is the zero Position (no position at all).
func (p Position) IsZero() bool { return p.Path == "" && p.Dev == 0 && p.Ino == 0 && p.Offset == 0 }

// FileID returns the generation p points into.
func (p Position) FileID() FileID {
	return FileID{Dev: p.Dev, Ino: p.Ino, Head: p.Head, HeadLen: p.HeadLen}
}

// Line is one complete ("\n"-terminated) line of one file generation.
type Line struct {
	// Text is the line without its trailing "\n" (a trailing "\r" is kept),
	// cut to MaxLineBytes. The receiver owns it.
	Text []byte
	// Path is the name the generation had when the tailer opened it; after a
	// rotation the same generation may live under another name.
	Path     string
	Dev, Ino uint64
	// Offset is the byte offset of the line's first byte in its file.
	Offset int64
	// Next is the position to persist once this line is durably handled:
	// its offset is just past the line's "\n".
	Next Position
	// Truncated says Text holds only the first MaxLineBytes bytes; the rest
	// of the line was skipped without being buffered.
	Truncated bool
	// FullLen is the length of the whole line without its "\n", whether or
	// not it was truncated.
	FullLen int64
	// FullSHA256 is the SHA-256 of the whole line without its "\n",
	// computed while streaming. It is set only when Truncated is true.
	FullSHA256 [32]byte
	// Watch is, from a Multi, the matching file name the line belongs to
	// (the key of its position); "" from a single Tailer.
	Watch string
	// Advance, when set, makes this no line at all but a move of the
	// position to Next: a generation was read to its end and finished, so
	// that a restart after it is deleted does not take it for one
	// deleted unread.
	Advance bool
	// Gap, when set, makes this no line at all but the report of bytes
	// of the source that will not be read (Text is empty). Next, unless
	// it is the zero Position, is where reading goes on after the gap and
	// is persisted as for a line.
	Gap *Gap
}

// Gap reasons (Gap.Reason), besides the Refused* ones.
const (
	// GapTruncated: From..To were seen in the file but were neither read
	// nor in a copy when the file was truncated.
	GapTruncated = "truncated"
	// GapCopied: as GapTruncated, with the part before From read from the
	// copy that copytruncate made.
	GapCopied = "copied and truncated"
	// GapDeleted: the generation was deleted (or compressed) before it was
	// read past From; how much it held is unknown (To is -1).
	GapDeleted = "generation deleted unread"
	// GapUnterminated: the generation ended in From..To, a last line
	// without its "\n", when it was finished.
	GapUnterminated = "unterminated last line"
	// GapUnreadable: a rotated generation could not be opened.
	GapUnreadable = "generation unreadable"
)

// Gap reports a part of the source that is not read: a byte range
// From..To of the line's generation (To -1: up to its end, size
// unknown), or, for a refusal, the whole file the path named (From and
// To 0, Target what it resolved to). For a truncation, more may have been
// lost past To (written and truncated between two looks); To is what was
// seen.
type Gap struct {
	From, To int64
	Reason   string
	Target   string
}

// Refusal reports whether the gap is a refused file rather than a byte
// range.
func (g *Gap) Refusal() bool { return strings.HasPrefix(g.Reason, "refused") }

// Tailer reads the lines of one file and its rotated generations.
type Tailer struct {
	cfg    Config
	log    *zap.Logger
	resume *Position
	ran    atomic.Bool
}

// New checks cfg and resume and returns a Tailer. resume is the last
// committed Position, or nil on a first start. Nothing is opened until Run.
func New(cfg Config, resume *Position) (*Tailer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.pinned()
	if resume != nil {
		if err := resume.validate(); err != nil {
			return nil, err
		}
		p := *resume
		resume = &p
	}
	return &Tailer{cfg: cfg, log: cfg.Logger, resume: resume}, nil
}

func (c Config) withDefaults() Config {
	if c.StartAt == "" {
		c.StartAt = StartBeginning
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.RotateDrain == 0 {
		c.RotateDrain = DefaultRotateDrain
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if len(c.AllowedDirs) == 0 && c.Path != "" {
		dir := filepath.Dir(c.Path)
		for IsPattern(dir) {
			dir = filepath.Dir(dir)
		}
		c.AllowedDirs = []string{dir}
	}
	return c
}

// Validate reports every problem of c, each naming its field, joined and
// wrapped in ErrInvalidConfig. Zero values are valid (they mean defaults).
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: required"))
	}
	if c.StartAt != "" && c.StartAt != StartBeginning && c.StartAt != StartEnd {
		errs = append(errs, fmt.Errorf("start_at: %q is not %q or %q", c.StartAt, StartBeginning, StartEnd))
	}
	if c.Poll < 0 {
		errs = append(errs, fmt.Errorf("poll: %v is negative", c.Poll))
	}
	if c.MaxLineBytes < 0 {
		errs = append(errs, fmt.Errorf("max_line_bytes: %d is negative", c.MaxLineBytes))
	}
	if c.RotateDrain < 0 {
		errs = append(errs, fmt.Errorf("rotate_drain: %v is negative", c.RotateDrain))
	}
	for i, d := range c.AllowedDirs {
		if d == "" {
			errs = append(errs, fmt.Errorf("allowed_dirs[%d]: empty", i))
		}
	}
	if _, err := compileRotated(c.Rotated); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (p Position) validate() error {
	var errs []error
	if p.Offset < 0 {
		errs = append(errs, fmt.Errorf("offset: %d is negative", p.Offset))
	}
	if p.HeadLen < 0 || p.HeadLen > HeadSize {
		errs = append(errs, fmt.Errorf("head_len: %d is outside 0..%d", p.HeadLen, HeadSize))
	}
	switch {
	case p.HeadLen > 0 && !hexSHA256.MatchString(p.Head):
		errs = append(errs, errors.New("head: not a lowercase hex SHA-256"))
	case p.HeadLen == 0 && p.Head != "":
		errs = append(errs, errors.New("head: set without head_len"))
	}
	if p.TailLen < 0 || p.TailLen > TailSize || p.TailLen > 0 && int64(p.TailLen) > p.Offset {
		errs = append(errs, fmt.Errorf("tail_len: %d is outside 0..%d or past the offset", p.TailLen, TailSize))
	}
	if len(p.Read) > MaxReadHistory {
		errs = append(errs, fmt.Errorf("read: %d generations, at most %d", len(p.Read), MaxReadHistory))
	}
	for i, g := range p.Read {
		if g.HeadLen < 0 || g.HeadLen > HeadSize || g.HeadLen > 0 && !hexSHA256.MatchString(g.Head) {
			errs = append(errs, fmt.Errorf("read[%d]: bad head", i))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidPosition, errors.Join(errs...))
	}
	return nil
}

// Run reads lines and sends them to out, in order, until ctx is done. A send
// blocks until out takes the line (backpressure: nothing is dropped). Run
// returns ctx.Err() on cancellation; I/O errors on the file are logged and
// retried, not returned. Run may be called once per Tailer.
func (t *Tailer) Run(ctx context.Context, out chan<- Line) error {
	if !t.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	r := newRun(t.cfg)
	defer r.close()
	return r.loop(ctx, out, t.resume)
}
