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

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// An export file (audit-sidecar export, GET /v1/audit?format=ndjson) is
// NDJSON: for each chain, an optional start line
//
//	{"export_chain":"<id>","from_seq":<n>}
//
// saying that the chain's records in the file begin at seq n on purpose
// (a time range), then the chain's records in seq order, one per line, as
// record.AppendJSON writes them: the canonical payload with a final
// "mac" member added. The payload is recovered byte for byte by cutting
// the last 76 bytes (`,"mac":"<64 hex>"}`) and appending "}".

// ExportStart is the start line of a chain in an export.
type ExportStart struct {
	Chain   string `json:"export_chain"`
	FromSeq uint64 `json:"from_seq"`
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
}

// span is a byte range of the file and whether it holds one chain only.
type span struct {
	from, to   int64
	contiguous bool
}

// OpenFile reads the export at path once to list its chains.
func OpenFile(path string) (*FileStore, error) {
	fs := &FileStore{path: path, starts: map[string]uint64{}, spans: map[string]span{}}
	last := ""
	err := fs.lines(0, -1, func(l []byte, lineNo int, off int64) error {
		c, _, start, err := routeLine(l)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", path, lineNo, err)
		}
		if start > 0 {
			fs.starts[c] = start
		}
		sp, seen := fs.spans[c]
		switch {
		case !seen:
			fs.chains = append(fs.chains, c)
			sp = span{from: off, contiguous: true}
		case c != last:
			sp.contiguous = false // the chain resumes after another's lines
		}
		sp.to = off + int64(len(l)) + 1
		fs.spans[c] = sp
		last = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fs, nil
}

// routeLine says which chain a line belongs to, and its seq (a record)
// or the start seq (a start line).
func routeLine(l []byte) (chain string, seq, start uint64, err error) {
	if c, n, ok := canonicalPrefix(l); ok {
		return c, n, 0, nil
	}
	var h struct {
		Chain   *string `json:"chain"`
		Seq     uint64  `json:"seq"`
		Export  *string `json:"export_chain"`
		FromSeq uint64  `json:"from_seq"`
	}
	if err := json.Unmarshal(l, &h); err != nil {
		return "", 0, 0, errors.New("not a JSON object")
	}
	switch {
	case h.Export != nil:
		return *h.Export, 0, max(h.FromSeq, 1), nil
	case h.Chain != nil:
		return *h.Chain, h.Seq, 0, nil
	}
	return "", 0, 0, errors.New("neither a record nor an export_chain line")
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

// lines calls fn with each non-empty line of the file between byte
// offsets from and to (to < 0: the end), its number (from the range's
// start) and its offset. The line is only valid during the call.
func (fs *FileStore) lines(from, to int64, fn func(l []byte, lineNo int, off int64) error) error {
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
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), MaxLineBytes)
	sc.Split(splitLF) // offsets count every byte, a '\r' included
	off := from
	for n := 1; sc.Scan(); n++ {
		raw := sc.Bytes()
		if l := bytes.TrimRight(raw, "\r"); len(l) > 0 {
			if err := fn(l, n, off); err != nil {
				return err
			}
		}
		off += int64(len(raw)) + 1
	}
	return sc.Err()
}

// splitLF splits at '\n' only, keeping any '\r' in the token.
func splitLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
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
	return fs.lines(from, to, func(l []byte, n int, _ int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, seq, start, err := routeLine(l)
		if err != nil || c != chain || start > 0 {
			return err
		}
		if err := checkExportLine(l); err != nil {
			return fmt.Errorf("%s line %d: %w", fs.path, n, err)
		}
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
				b, _ := json.Marshal(ExportStart{Chain: c, FromSeq: row.Seq})
				if _, err := w.Write(append(b, '\n')); err != nil {
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
