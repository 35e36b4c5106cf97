package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// An export file (audit-sidecar export, GET /v1/audit?format=ndjson) is
// NDJSON framed exactly (docs/chain-format.md, "Export files"): lines that
// each end in one '\n', the last one too, each either a record line (the
// canonical payload with a final "mac" member added, as record.AppendJSON
// writes it; the payload is recovered byte for byte by cutting the last 74
// bytes, `,"mac":"<64 hex>"}`, and appending "}") or a start line
//
//	{"export_chain":<chain, a canonical string>,"from_seq":<n>}
//
// (n >= 2, exactly these bytes) saying that the chain's records in the
// file begin at seq n on purpose (a time range). A start line comes before
// its chain's records, once, and the chain's first record is then seq n.
// Nothing else: no blank line, no '\r', no white space around a line. A
// line that breaks these rules is not read as a record and is a problem of
// the input (invalid): an export is evidence only as export wrote it.
// tools/verify_export.py applies the same rules.

// ExportStart is the start line of a chain in an export.
type ExportStart struct {
	Chain   string `json:"export_chain"`
	FromSeq uint64 `json:"from_seq"`
}

// AppendStartLine appends the start line of chain (without its '\n'): the
// chain's records in the export begin at seq from.
func AppendStartLine(dst []byte, chain string, from uint64) []byte {
	dst = append(dst, `{"export_chain":`...)
	dst = record.AppendString(dst, chain)
	dst = append(dst, `,"from_seq":`...)
	dst = strconv.AppendUint(dst, from, 10)
	return append(dst, '}')
}

// startLinePrefix begins every start line, and no record line.
const startLinePrefix = `{"export_chain":`

// parseStartLine returns the chain and from_seq of a start line, ok false
// unless the line is exactly what AppendStartLine writes with from >= 2.
func parseStartLine(l []byte) (chain string, from uint64, ok bool) {
	var h struct {
		Chain   *string     `json:"export_chain"`
		FromSeq json.Number `json:"from_seq"`
	}
	if json.Unmarshal(l, &h) != nil || h.Chain == nil {
		return "", 0, false
	}
	n, err := strconv.ParseUint(h.FromSeq.String(), 10, 64)
	if err != nil || n < 2 || !bytes.Equal(AppendStartLine(nil, *h.Chain, n), l) {
		return "", 0, false
	}
	return *h.Chain, n, true
}

// macSuffixLen is len(`,"mac":"`) + 64 + len(`"}`).
const macSuffixLen = 8 + 64 + 2

// checkExportLine checks that a line ends in a well-formed mac member.
func checkExportLine(line []byte) error {
	n := len(line)
	if n < macSuffixLen+2 || !bytes.HasPrefix(line[n-macSuffixLen:], []byte(`,"mac":"`)) || !bytes.HasSuffix(line, []byte(`"}`)) {
		return errors.New("not a record line (no final \"mac\" member)")
	}
	for _, c := range line[n-66 : n-2] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return errors.New("record line has a malformed mac")
		}
	}
	return nil
}

// FileStore reads an export file as a Store, streaming it once per chain.
type FileStore struct {
	path   string
	chains []string
	starts map[string]uint64
	// spans holds, per chain, the byte range of its lines when they are
	// contiguous in the file (as export writes them), so that Scan reads
	// only that range; a chain whose lines interleave with another's is
	// scanned through the whole file.
	spans map[string]span
	// problems are the lines that break the framing (at most
	// maxFramingProblems, then one that counts the rest).
	problems []*chain.VerifyError
	more     int // framing problems past maxFramingProblems
	lastBad  int // the line of the last of them
}

// span is a byte range of the file and whether it holds one chain only.
type span struct {
	from, to   int64
	contiguous bool
}

// maxFramingProblems bounds the framing problems kept: a file of a
// million blank lines is reported in a bounded report.
const maxFramingProblems = 1000

// fail records a framing problem of the file (invalid).
func (fs *FileStore) fail(format string, args ...any) {
	if len(fs.problems) < maxFramingProblems {
		fs.problems = append(fs.problems, &chain.VerifyError{Kind: chain.KindFraming, Reason: fmt.Sprintf(format, args...)})
		return
	}
	fs.more++
}

// Problems returns the lines of the file that break the export framing,
// each an invalid problem of the input (no chain, seq 0), in file order.
// Those lines are not read as records.
func (fs *FileStore) Problems() []*chain.VerifyError {
	if fs.more == 0 {
		return fs.problems
	}
	return append(fs.problems[:len(fs.problems):len(fs.problems)], &chain.VerifyError{Kind: chain.KindFraming,
		Reason: fmt.Sprintf("%d more export lines, up to line %d, break the export's framing (not listed)", fs.more, fs.lastBad)})
}

// OpenFile reads the export at path once to list its chains and check
// its framing (see Problems). Only an I/O error fails it.
func OpenFile(path string) (*FileStore, error) {
	fs := &FileStore{path: path, starts: map[string]uint64{}, spans: map[string]span{}}
	last := ""
	records := map[string]bool{} // chains with a record line read
	err := fs.lines(0, -1, func(l line) error {
		if !l.ok {
			fs.lineProblem(l)
			return nil
		}
		c, seq, start := l.chain, l.seq, l.start
		if start > 0 {
			switch {
			case records[c]:
				fs.fail("export line %d: a start line of chain %q after records of that chain", l.no, c)
				fs.lastBad = l.no
			case fs.starts[c] > 0:
				fs.fail("export line %d: a second start line of chain %q", l.no, c)
				fs.lastBad = l.no
			default:
				fs.starts[c] = start
			}
		} else if !records[c] {
			records[c] = true
			if from := fs.starts[c]; from > 0 && seq != from {
				fs.fail("export line %d: chain %q begins at seq %d, not at the from_seq %d of its start line", l.no, c, seq, from)
				fs.lastBad = l.no
			}
		}
		sp, seen := fs.spans[c]
		switch {
		case !seen:
			fs.chains = append(fs.chains, c)
			sp = span{from: l.off, contiguous: true}
		case c != last:
			sp.contiguous = false // the chain resumes after another's lines
		}
		sp.to = l.off + int64(l.size)
		fs.spans[c] = sp
		last = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fs, nil
}

// lineProblem records why line l breaks the framing.
func (fs *FileStore) lineProblem(l line) {
	fs.lastBad = l.no
	switch l.bad {
	case badNoLF:
		fs.fail("export line %d does not end in a newline (\\n): the file was cut or edited", l.no)
	case badTooLong:
		fs.fail("export line %d is longer than %d bytes", l.no, MaxLineBytes)
	case badEmpty:
		fs.fail("export line %d is empty", l.no)
	case badCR:
		fs.fail("export line %d ends in a carriage return (\\r): the lines of an export end in \\n alone", l.no)
	case badStart:
		fs.fail("export line %d is a malformed start line (not exactly {\"export_chain\":<chain>,\"from_seq\":<n from 2>})", l.no)
	default:
		fs.fail("export line %d is not a record line (a payload with a final \"mac\" member of 64 hex digits)", l.no)
	}
}

// Why a line breaks the framing (line.bad).
const (
	badNone = iota
	badNoLF
	badTooLong
	badEmpty
	badCR
	badStart
	badRecord
)

// line is one line of an export file, classified.
type line struct {
	b    []byte // without its '\n'; valid during the call only
	no   int    // 1-based, from the start of the range read
	off  int64  // its offset in the file
	size int    // its length with its '\n'
	ok   bool   // framed well: a start line or a record line
	bad  int    // why not (bad*)
	// chain, and seq (a record) or start (a start line's from_seq)
	chain      string
	seq, start uint64
}

// classify checks l's framing and routes it: a start line, or a record
// line with its chain and seq. The checks depend on the line alone, so
// that OpenFile and Scan skip the same lines.
func (l *line) classify(lf, tooLong bool) {
	switch {
	case tooLong:
		l.bad = badTooLong
	case !lf:
		l.bad = badNoLF
	case len(l.b) == 0:
		l.bad = badEmpty
	case l.b[len(l.b)-1] == '\r':
		l.bad = badCR
	case bytes.HasPrefix(l.b, []byte(startLinePrefix)):
		if c, from, ok := parseStartLine(l.b); ok {
			l.chain, l.start, l.ok = c, from, true
		} else {
			l.bad = badStart
		}
	case checkExportLine(l.b) != nil:
		l.bad = badRecord
	default:
		if c, seq, ok := routeRecord(l.b); ok {
			l.chain, l.seq, l.ok = c, seq, true
		} else {
			l.bad = badRecord
		}
	}
}

// routeRecord says which chain a record line belongs to and its seq: from
// the canonical prefix, or a JSON decode of the line for a payload that
// is not canonical (its chain's verifier says so).
func routeRecord(l []byte) (chain string, seq uint64, ok bool) {
	if c, n, ok := canonicalPrefix(l); ok {
		return c, n, true
	}
	var h struct {
		Chain *string `json:"chain"`
		Seq   uint64  `json:"seq"`
	}
	if json.Unmarshal(l, &h) != nil || h.Chain == nil {
		return "", 0, false
	}
	return *h.Chain, h.Seq, true
}

// canonicalPrefix reads chain and seq from the start of a record line, as
// canonical payloads begin: {"v":<n>,"chain":"<id>","seq":<n>, (a chain id
// with escapes is left to the JSON decoder).
func canonicalPrefix(l []byte) (chain string, seq uint64, ok bool) {
	const p0, p1, p2 = `{"v":`, `,"chain":"`, `","seq":`
	if !bytes.HasPrefix(l, []byte(p0)) {
		return "", 0, false
	}
	rest := l[len(p0):]
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || !bytes.HasPrefix(rest[i:], []byte(p1)) {
		return "", 0, false
	}
	rest = rest[i+len(p1):]
	q := bytes.IndexByte(rest, '"')
	if q < 0 || bytes.IndexByte(rest[:q], '\\') >= 0 || !bytes.HasPrefix(rest[q:], []byte(p2)) {
		return "", 0, false
	}
	digits := rest[q+len(p2):]
	end := bytes.IndexByte(digits, ',')
	if end <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(string(digits[:end]), 10, 64)
	if err != nil {
		return "", 0, false
	}
	return string(rest[:q]), n, true
}

// lines calls fn with each line of the file between byte offsets from and
// to (to < 0: the end), classified (see line.classify). A line longer than
// MaxLineBytes is not held: it is skipped to its end and reported as such.
func (fs *FileStore) lines(from, to int64, fn func(line) error) error {
	f, err := os.Open(fs.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if from > 0 {
		if _, err := f.Seek(from, io.SeekStart); err != nil {
			return err
		}
	}
	if to >= 0 {
		r = io.LimitReader(f, to-from)
	}
	size := 1 << 20
	if to >= 0 && to-from < int64(size) {
		size = int(to-from) + 1 // a chain's span: most are small
	}
	br := bufio.NewReaderSize(r, size)
	off := from
	var long []byte // a line longer than the reader's buffer, gathered
	for n := 1; ; n++ {
		l := line{no: n, off: off}
		b, err := br.ReadSlice('\n')
		tooLong := false
		for errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong && len(long)+len(b) > MaxLineBytes {
				tooLong, long = true, nil
			}
			l.size += len(b)
			if !tooLong {
				long = append(long, b...)
			}
			b, err = br.ReadSlice('\n')
		}
		l.size += len(b)
		if long != nil || tooLong {
			if !tooLong && len(long)+len(b) > MaxLineBytes+1 {
				tooLong = true
			}
			if !tooLong {
				b = append(long, b...)
			}
			long = nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if l.size == 0 {
			return nil // the end
		}
		lf := len(b) > 0 && b[len(b)-1] == '\n'
		if lf {
			b = b[:len(b)-1]
		}
		l.b = b
		l.classify(lf, tooLong)
		if err := fn(l); err != nil {
			return err
		}
		off += int64(l.size)
		if err != nil { // io.EOF after a last line without '\n'
			return nil
		}
	}
}

// MaxLineBytes bounds a line of an export file (a record).
const MaxLineBytes = 64 << 20

// Chains lists the chains in file order.
func (fs *FileStore) Chains(context.Context) ([]string, error) { return fs.chains, nil }

// StartSeq is the seq the chain's records in the file begin at on
// purpose (0: from the chain's start).
func (fs *FileStore) StartSeq(chain string) uint64 { return fs.starts[chain] }

// Scan streams the records of chain in file order. Payloads and MACs are
// cut from shared blocks of memory (one allocation per arenaBytes, not per
// record); each row owns its part.
func (fs *FileStore) Scan(ctx context.Context, chain string, fn func(sink.Row) error) error {
	var arena []byte
	from, to := int64(0), int64(-1)
	if sp, ok := fs.spans[chain]; ok && sp.contiguous {
		from, to = sp.from, sp.to
	}
	return fs.lines(from, to, func(ln line) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !ln.ok || ln.chain != chain || ln.start > 0 {
			return nil // another chain's, a start line, or one OpenFile reported
		}
		l, c, seq := ln.b, ln.chain, ln.seq
		// The payload is the line without its mac member, closed again.
		body := l[:len(l)-macSuffixLen]
		if need := len(body) + 1 + 32; cap(arena)-len(arena) < need {
			arena = make([]byte, 0, max(arenaBytes, need))
		}
		off := len(arena)
		arena = append(append(arena, body...), '}')
		p := arena[off:len(arena):len(arena)]
		off = len(arena)
		arena = arena[:off+32]
		m := arena[off : off+32 : off+32]
		hex.Decode(m, l[len(l)-66:len(l)-2])
		return fn(sink.Row{Chain: c, Seq: seq, Payload: p, MAC: m, PayloadOnly: true})
	})
}

// arenaBytes is the size of the blocks Scan cuts rows from.
const arenaBytes = 256 << 10

// Export writes the records of chains (all of st's chains when nil) as an
// export file to w: per chain, its records in seq order whose ingested_at
// is in [from, to) (record.TimeLayout text; "" for no bound), with a start
// line when a chain's first exported record is past seq 1 because of
// from. Flush, if not nil, is called after each chain.
func Export(ctx context.Context, w io.Writer, st Store, chains []string, from, to string, flush func()) error {
	if chains == nil {
		var err error
		if chains, err = st.Chains(ctx); err != nil {
			return err
		}
	}
	var line []byte
	for _, c := range chains {
		first := true
		err := st.Scan(ctx, c, func(row sink.Row) error {
			// Stored times are fixed-width text: they compare as strings.
			if from != "" && row.IngestedAt < from || to != "" && row.IngestedAt >= to {
				return nil
			}
			if len(row.MAC) != 32 || len(row.Payload) < 2 {
				return fmt.Errorf("chain %q seq %d: stored mac or payload malformed", c, row.Seq)
			}
			if first && from != "" && row.Seq > 1 {
				if _, err := w.Write(append(AppendStartLine(nil, c, row.Seq), '\n')); err != nil {
					return err
				}
			}
			first = false
			line = append(record.AppendJSON(line[:0], row.Payload, [32]byte(row.MAC)), '\n')
			_, err := w.Write(line)
			return err
		})
		if err != nil {
			return fmt.Errorf("export chain %q: %w", c, err)
		}
		if flush != nil {
			flush()
		}
	}
	return nil
}
