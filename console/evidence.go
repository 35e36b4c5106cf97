package console

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/verify"
)

// bundleStall bounds how long a bundle's download may stand still (a
// client that reads nothing, a verification that reads nothing): the
// write deadline is pushed this far at each write and, while the export
// is verified, every bundleTick.
const (
	bundleStall = 2 * time.Minute
	bundleTick  = 10 * time.Second
)

// bundle is one evidence bundle being written.
type bundle struct {
	zw   *zip.Writer
	now  time.Time
	sums []string // "<sha256>  <name>" lines, for SHA256SUMS
}

// create adds the file name and returns its writer, which also hashes
// what it is given for SHA256SUMS (add it with done).
func (b *bundle) create(name string) (io.Writer, hash.Hash, error) {
	w, err := b.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: b.now})
	if err != nil {
		return nil, nil, err
	}
	h := sha256.New()
	return io.MultiWriter(w, h), h, nil
}

func (b *bundle) done(name string, h hash.Hash) {
	b.sums = append(b.sums, hex.EncodeToString(h.Sum(nil))+"  "+name)
}

// file adds a whole file.
func (b *bundle) file(name string, data []byte) error {
	w, h, err := b.create(name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	b.done(name, h)
	return nil
}

// serveEvidence streams the evidence bundle: a zip written as it is
// read, never held in memory. Before the first byte it checks the range,
// takes the console's one bundle slot and creates the temp file that
// keeps the export while it is verified; a failure after that (the store,
// the verification) aborts the response, so that a cut bundle never ends
// as a valid zip.
func (c *console) serveEvidence(w http.ResponseWriter, r *http.Request, ss *session, log *zap.Logger) {
	in := c.integrity
	var bounds [2]string
	q := r.URL.Query()
	for i, name := range []string{"from", "to"} {
		v := strings.TrimSpace(q.Get(name))
		if v == "" {
			continue
		}
		t, err := query.ParseTime(utc(v))
		if err != nil {
			c.render(w, http.StatusBadRequest, "error", ss, errorView{Title: "Not downloaded", Message: name + ": " + err.Error() + "."})
			return
		}
		bounds[i] = record.FormatTime(t)
	}
	if bounds[0] != "" && bounds[1] != "" && bounds[0] >= bounds[1] {
		c.render(w, http.StatusBadRequest, "error", ss, errorView{Title: "Not downloaded", Message: "from: must be before to."})
		return
	}
	select {
	case in.bundle <- struct{}{}:
		defer func() { <-in.bundle }()
	default:
		w.Header().Set("Retry-After", "10")
		c.render(w, http.StatusTooManyRequests, "error", ss, errorView{Title: "Busy", Message: "Another evidence bundle is being made. Try again when it is done."})
		return
	}
	files := &EvidenceFiles{}
	if in.cfg.Evidence != nil {
		var err error
		if files, err = in.cfg.Evidence(); err != nil {
			log.Error("console evidence failed", zap.Error(err))
			c.render(w, http.StatusInternalServerError, "error", ss, errorView{Title: "Not downloaded", Message: "The keys or checkpoints for the bundle could not be read. The error is in the sidecar's log."})
			return
		}
	}
	tmp, err := os.CreateTemp(in.cfg.TempDir, "audit-evidence-*.ndjson")
	if err != nil {
		log.Error("console evidence failed", zap.Error(err))
		c.render(w, http.StatusInternalServerError, "error", ss, errorView{Title: "Not downloaded", Message: "The console could not create the temporary file that holds the export while it is verified. The error is in the sidecar's log."})
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	now := in.now().UTC()
	hd := w.Header()
	hd.Set("Content-Type", "application/zip")
	hd.Set("Content-Disposition", `attachment; filename="audit-evidence-`+now.Format("20060102T150405Z")+`.zip"`)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	renew := func() { _ = rc.SetWriteDeadline(time.Now().Add(bundleStall)) }
	renew()
	start := time.Now()
	b := &bundle{zw: zip.NewWriter(renewingWriter{w, renew}), now: now}
	rep, n, err := c.writeBundle(r.Context(), b, tmp, files, bounds, ss.principal.Name(), renew)
	if err == nil {
		err = b.zw.Close()
	}
	if err != nil {
		// The status is sent: end the response without the zip's central
		// directory, cut, so that no client takes it for a whole bundle.
		log.Error("console evidence failed", zap.Error(err), zap.Bool("canceled", r.Context().Err() != nil))
		panic(http.ErrAbortHandler)
	}
	log.Info("console evidence served", zap.Int64("export_bytes", n), zap.String("verdict", rep.Verdict),
		zap.String("from", bounds[0]), zap.String("to", bounds[1]), zap.Duration("took", time.Since(start)))
}

// renewingWriter pushes the write deadline before each write.
type renewingWriter struct {
	w     io.Writer
	renew func()
}

func (r renewingWriter) Write(p []byte) (int, error) {
	r.renew()
	return r.w.Write(p)
}

// writeBundle writes the bundle's files: the export (kept in tmp too),
// the keys and witnessed checkpoints, the export's verification report
// (HTML and JSON), SHA256SUMS and README.txt. It returns the report and
// the export's size.
func (c *console) writeBundle(ctx context.Context, b *bundle, tmp *os.File, files *EvidenceFiles, bounds [2]string, by string, renew func()) (*verify.Report, int64, error) {
	in := c.integrity
	ew, h, err := b.create("export.ndjson")
	if err != nil {
		return nil, 0, err
	}
	keep := bufio.NewWriterSize(tmp, 1<<20)
	cw := &countWriter{w: io.MultiWriter(ew, keep)}
	if err := verify.Export(ctx, cw, in.cfg.Store, nil, bounds[0], bounds[1], nil); err != nil {
		return nil, 0, err
	}
	if err := keep.Flush(); err != nil {
		return nil, 0, fmt.Errorf("temp file: %w", err)
	}
	b.done("export.ndjson", h)
	for _, f := range files.PublicKeys {
		if err := b.file("keys/"+path.Base(f.Name), f.Data); err != nil {
			return nil, 0, err
		}
	}
	for _, f := range files.Checkpoints {
		if err := b.file("witness/"+path.Base(f.Name), f.Data); err != nil {
			return nil, 0, err
		}
	}

	// The export as written, verified as `verify --file` would.
	fs, err := verify.OpenFile(tmp.Name())
	if err != nil {
		return nil, 0, err
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(bundleTick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				renew()
			case <-done:
				return
			}
		}
	}()
	rep, err := in.cfg.Verify(ctx, fs, true)
	close(done)
	if err == nil && rep == nil {
		err = errNoReport
	}
	if err != nil {
		return nil, 0, fmt.Errorf("verify the export: %w", err)
	}
	if rep.Checked != nil {
		rep.Checked.Input = "export.ndjson of an evidence bundle"
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer, *verify.Report) error
	}{{"report.html", verify.WriteHTML}, {"report.json", verify.WriteJSON}} {
		w, h, err := b.create(f.name)
		if err != nil {
			return nil, 0, err
		}
		if err := f.write(w, rep); err != nil {
			return nil, 0, err
		}
		b.done(f.name, h)
	}
	if err := b.file("SHA256SUMS", []byte(strings.Join(b.sums, "\n")+"\n")); err != nil {
		return nil, 0, err
	}
	readme := readmeText(readmeFacts{Now: b.now, By: by, From: bounds[0], To: bounds[1], Bytes: cw.n, Report: rep, Files: files})
	if err := b.file("README.txt", []byte(readme)); err != nil {
		return nil, 0, err
	}
	return rep, cw.n, nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// errNoReport is returned by a Verify that gives no report.
var errNoReport = errors.New("the verification gave no report")
