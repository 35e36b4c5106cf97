package query

import (
	"bufio"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// pageBufferSize is the write buffer of a page: records are written to
// the client through it as the store yields them, never gathered first.
const pageBufferSize = 32 << 10

// errPageFull stops the store once a page and the row that says more
// follow have been seen.
var errPageFull = errors.New("page full")

// errOutOfScope is a store that returned another tenant's row to a
// tenant-scoped token: a bug that must not become a disclosure.
var errOutOfScope = errors.New("store returned a row outside the token's tenant")

// pageWriter writes one 200 page, {"records":[...],"next_cursor":...},
// record by record through a buffer. The status and headers go out with
// the first bytes that leave the buffer, so that a failure before (a
// store that fails early, a small page) still gets a clean 500.
type pageWriter struct {
	w      http.ResponseWriter
	stall  stallDeadline
	bw     *bufio.Writer // nil until the first record
	limit  int
	tenant string
	n      int
	more   bool
	last   sink.Row // the position of the last record written: TS, Chain, Seq
	// resume, when set, is where the next page starts instead of last:
	// the store stopped at its bound of rows examined (see
	// sink.SearchBoundError) before the page was full.
	resume *sink.Row
	sent   bool // the status is sent
	// werr is the error of a write to the client (gone, or too slow for
	// the server's write timeout): the client's doing, not the store's.
	werr error
}

// Write passes the buffer's bytes to the response, sending the status
// and headers first.
func (p *pageWriter) Write(b []byte) (int, error) {
	if !p.sent {
		hd := p.w.Header()
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-store")
		p.w.WriteHeader(http.StatusOK)
		p.sent = true
	}
	p.stall.renew()
	return p.w.Write(b)
}

// add writes row as the next record, or notes that more rows follow once
// the page holds limit records. It checks what a buggy or tampered store
// could return: another tenant's row, a malformed MAC or payload.
func (p *pageWriter) add(row *sink.Row) error {
	if p.n == p.limit {
		p.more = true
		return errPageFull
	}
	if p.tenant != "" && row.Tenant != p.tenant {
		return errOutOfScope
	}
	if len(row.MAC) != 32 || len(row.Payload) < 2 {
		return errors.New("row " + row.Chain + "/" + strconv.FormatUint(row.Seq, 10) + ": bad mac or payload")
	}
	if p.bw == nil {
		p.start()
	} else {
		p.bw.WriteByte(',')
	}
	// As record.AppendJSON, written in place: the payload is not copied.
	p.bw.Write(row.Payload[:len(row.Payload)-1])
	var mac [len(`,"mac":"`) + 64 + 2]byte
	tail := append(mac[:0], `,"mac":"`...)
	tail = appendHex(tail, row.MAC)
	tail = append(tail, '"', '}')
	if _, err := p.bw.Write(tail); err != nil {
		p.werr = err
		return err
	}
	p.n++
	p.last = sink.Row{Chain: row.Chain, Seq: row.Seq, Columns: record.Columns{TS: row.TS}}
	return nil
}

func (p *pageWriter) start() {
	p.bw = bufio.NewWriterSize(p, pageBufferSize)
	p.bw.WriteString(`{"records":[`)
}

// finish writes the end of the page: next_cursor, then flushes.
func (p *pageWriter) finish(f *sink.Filter) error {
	if p.bw == nil {
		p.start()
	}
	p.bw.WriteString(`],"next_cursor":`)
	at := &p.last
	if p.resume != nil {
		at = p.resume
	}
	if p.more && (p.n > 0 || p.resume != nil) {
		c, err := encodeCursor(at, f)
		if err != nil {
			return err
		}
		p.bw.WriteByte('"')
		p.bw.WriteString(c) // base64url needs no escaping
		p.bw.WriteByte('"')
	} else {
		p.bw.WriteString("null")
	}
	p.bw.WriteString("}\n")
	if err := p.bw.Flush(); err != nil {
		p.werr = err
		return err
	}
	return nil
}

func appendHex(dst, b []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range b {
		dst = append(dst, digits[c>>4], digits[c&0xf])
	}
	return dst
}

// servePage streams the page of f (Limit and After as the request says)
// to w. It asks the store for one row more than it serves, to know
// whether a next page exists; at MaxLimit, which is also the store's
// maximum, a full page is followed by a one-row probe instead.
//
// Once the first 32 KiB are written the status is sent: a failure after
// it aborts the response (the connection is closed without the end of
// the chunked body), so that a client never takes a cut page for a
// whole one.
//
// A filter that no index serves is read by the store window by window,
// within a bound of rows examined per request (sink.SearchBoundError):
// when the store reaches it first, the page ends with the records found
// so far, possibly none, and a next_cursor that resumes where the store
// stopped. A store statement that runs past its deadline
// (sink.ErrSearchTimeout) is 503 before the status is sent.
func (h *handler) servePage(w http.ResponseWriter, r *http.Request, f *sink.Filter, limit int, tenant string, log *zap.Logger, start time.Time) {
	ctx := r.Context()
	p := &pageWriter{w: w, stall: newStallDeadline(w, h.stall), limit: limit, tenant: tenant}
	q := *f
	q.Limit = limit + 1
	probe := q.Limit > MaxLimit
	if probe {
		q.Limit = limit
	}
	err := h.store.SearchEach(ctx, q, p.add)
	if err == nil && probe && p.n == limit {
		q.Limit = 1
		q.After = lastKey(&p.last)
		if q.After == nil {
			err = errors.New("stored ts of " + p.last.Chain + "/" + strconv.FormatUint(p.last.Seq, 10) + " is not a time")
		} else {
			err = h.store.SearchEach(ctx, q, p.add)
		}
	}
	if errors.Is(err, errPageFull) {
		err = nil
	}
	if be := (*sink.SearchBoundError)(nil); errors.As(err, &be) {
		p.more = true
		p.resume = &sink.Row{Chain: be.Resume.Chain, Seq: be.Resume.Seq, Columns: record.Columns{TS: record.FormatTime(be.Resume.TS)}}
		err = nil
	}
	if err == nil {
		err = p.finish(f)
	}
	switch {
	case err == nil:
		log.Info("audit query served", zap.Int("records", p.n), zap.Bool("more", p.more),
			zap.Duration("took", time.Since(start)))
		return
	case ctx.Err() != nil || p.werr != nil:
		log.Info("audit query canceled", zap.Error(err), zap.Int("records_read", p.n))
		if !p.sent {
			writeError(w, http.StatusServiceUnavailable, "request canceled")
			return
		}
	case errors.Is(err, sink.ErrSearchTimeout):
		log.Warn("audit query took too long", zap.Error(err), zap.Int("records_read", p.n))
		if !p.sent {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
			writeError(w, http.StatusServiceUnavailable, "the store took too long for this query; narrow it (from, to)")
			return
		}
	default:
		log.Error("audit query failed", zap.Error(err), zap.Int("records_read", p.n))
		if !p.sent {
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
	}
	panic(http.ErrAbortHandler) // the status is sent: cut the connection
}

// lastKey is the keyset position of row (TS, Chain, Seq); nil if its
// stored time does not parse.
func lastKey(row *sink.Row) *sink.Key {
	ts, err := time.Parse(time.RFC3339Nano, row.TS)
	if err != nil {
		return nil
	}
	return &sink.Key{TS: ts.UTC(), Chain: row.Chain, Seq: row.Seq}
}

// stallDeadline renews the write deadline of a response's connection
// before each write (see Config.WriteStall): the server's write timeout
// bounds a whole response, this bounds each wait for the client.
type stallDeadline struct {
	rc *http.ResponseController
	d  time.Duration
}

func newStallDeadline(w http.ResponseWriter, d time.Duration) stallDeadline {
	return stallDeadline{rc: http.NewResponseController(w), d: d}
}

// renew sets the deadline d from now; a ResponseWriter that has no
// connection (a test's recorder) is left as it is.
func (s stallDeadline) renew() {
	if s.rc != nil && s.d > 0 {
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.d))
	}
}

// stallWriter is a ResponseWriter's Write with the deadline renewed
// first.
type stallWriter struct {
	w     http.ResponseWriter
	stall stallDeadline
}

func (s stallWriter) Write(b []byte) (int, error) {
	s.stall.renew()
	return s.w.Write(b)
}
