package console

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/verify"
)

// download GETs the bundle with c and returns the response (body read).
func (e *ienv) download(t *testing.T, c *http.Client, query string) resp {
	t.Helper()
	return send(t, c, http.MethodGet, e.srv.URL+"/console/evidence.zip"+query, nil, nil)
}

// unzip returns the files of a zip by name.
func unzip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the bundle is not a zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[f.Name] = data
	}
	return out
}

// verifyExport runs the CLI's verifier on an export's bytes with keys.
func verifyExport(t *testing.T, data []byte, keys chain.Keyring) *verify.Report {
	t.Helper()
	p := filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := verify.OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Run(context.Background(), fs, verify.Options{Keys: keys}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestEvidence_BundleVerifies downloads the bundle, unzips it, checks
// that its export is byte for byte what `audit-sidecar export` writes
// (verify.Export) for the same range, that the verifier the CLI runs
// finds it valid, and invalid once one byte of it is changed; that its
// sums, keys, witness files, report and README are there.
func TestEvidence_BundleVerifies(t *testing.T) {
	pub := File{Name: "audit-sidecar.pem", Data: []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n")}
	note := File{Name: "agent-a.checkpoint", Data: []byte("audit-sidecar/agent-a\n40\n...\n")}
	e := newIntegrityEnv(t, 40, func(ig *Integrity) {
		ig.Evidence = func() (*EvidenceFiles, error) {
			return &EvidenceFiles{PublicKeys: []File{pub}, Checkpoints: []File{note}, SignerName: "audit-sidecar"}, nil
		}
	})
	keys := chain.Keyring{e.key.ID: e.key}
	c := e.signedIn(t, adminToken)
	for _, rng := range []struct{ query, from, to string }{
		{"", "", ""},
		{"?from=" + testBase.Add(10*time.Minute).Format(time.RFC3339) + "&to=2026-03-04T09:30", record.FormatTime(testBase.Add(10 * time.Minute)), record.FormatTime(testBase.Add(30 * time.Minute))},
	} {
		r := e.download(t, c, rng.query)
		if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/zip" ||
			!strings.HasPrefix(r.header.Get("Content-Disposition"), `attachment; filename="audit-evidence-`) {
			t.Fatalf("%q: %d %v\n%s", rng.query, r.code, r.header, r.body)
		}
		files := unzip(t, []byte(r.body))
		var want bytes.Buffer
		if err := verify.Export(context.Background(), &want, e.store, nil, rng.from, rng.to, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(files["export.ndjson"], want.Bytes()) || want.Len() == 0 {
			t.Fatalf("%q: the bundle's export (%d bytes) is not what export writes (%d bytes)", rng.query, len(files["export.ndjson"]), want.Len())
		}
		if rep := verifyExport(t, files["export.ndjson"], keys); rep.Verdict != verify.Valid {
			t.Errorf("%q: the bundle's export verifies %s: %v", rng.query, rep.Verdict, rep.Problems)
		}
		tampered := bytes.Clone(files["export.ndjson"])
		i := bytes.Index(tampered, []byte(`"mail.send"`))
		tampered[i+1] = 'M'
		if rep := verifyExport(t, tampered, keys); rep.Verdict != verify.Invalid {
			t.Errorf("%q: one byte changed, the export verifies %s", rng.query, rep.Verdict)
		}
		if !bytes.Equal(files["keys/audit-sidecar.pem"], pub.Data) || !bytes.Equal(files["witness/agent-a.checkpoint"], note.Data) {
			t.Errorf("%q: keys or witness files differ", rng.query)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(files["SHA256SUMS"])), "\n") {
			sum, name, _ := strings.Cut(line, "  ")
			got := sha256.Sum256(files[name])
			if files[name] == nil || hex.EncodeToString(got[:]) != sum {
				t.Errorf("%q: SHA256SUMS line %q does not match", rng.query, line)
			}
		}
		if !strings.Contains(string(files["report.html"]), "Verdict: <span class=\"word\">valid</span>") ||
			!strings.Contains(string(files["report.html"]), "export.ndjson of an evidence bundle") {
			t.Errorf("%q: report.html is not the export's valid report", rng.query)
		}
		if !bytes.Contains(files["report.json"], []byte(`"verdict": "valid"`)) {
			t.Errorf("%q: report.json: %.200s", rng.query, files["report.json"])
		}
		readme := string(files["README.txt"])
		for _, w := range []string{"audit-sidecar verify --file export.ndjson --pubkey keys/audit-sidecar.pem --signer-name audit-sidecar --witness witness",
			"python3 verify_export.py export.ndjson", "sha256sum -c SHA256SUMS", "Verdict: valid", `for the token "ops"`, "--key-file"} {
			if !strings.Contains(readme, w) {
				t.Errorf("%q: README.txt lacks %q\n%s", rng.query, w, readme)
			}
		}
		if rng.from != "" && !strings.Contains(readme, "--from "+rng.from+" --to "+rng.to) {
			t.Errorf("README.txt does not give the export's range\n%s", readme)
		}
		for name, data := range files {
			if bytes.Contains(data, e.key.Secret()) || bytes.Contains(data, []byte(hex.EncodeToString(e.key.Secret()))) {
				t.Errorf("%s holds the HMAC key", name)
			}
		}
	}
}

// TestEvidence_RefusedBeforeSending: a bad range, a temp folder that
// cannot take the export, or keys that cannot be read fail with a page
// and a status before any byte of a zip.
func TestEvidence_RefusedBeforeSending(t *testing.T) {
	evidenceErr := errors.New("read /keys/signing.pem: permission denied")
	for _, tc := range []struct {
		name  string
		set   func(*Integrity)
		query string
		code  int
		says  string
	}{
		{"bad from", nil, "?from=yesterday", 400, "from:"},
		{"bad to", nil, "?to=2026-13-01", 400, "to:"},
		{"year past 9999", nil, "?from=10000-01-01T00:00:00Z", 400, "from:"},
		{"year before 1", nil, "?to=0000-12-31T23:00:00Z", 400, "to:"},
		{"empty range", nil, "?from=2026-03-04T10:00:00Z&to=2026-03-04T10:00", 400, "from: must be before to."},
		{"no temp folder", func(ig *Integrity) { ig.TempDir = filepath.Join(t.TempDir(), "missing") }, "", 500, "temporary file"},
		{"evidence unreadable", func(ig *Integrity) {
			ig.Evidence = func() (*EvidenceFiles, error) { return nil, evidenceErr }
		}, "", 500, "keys or checkpoints"},
	} {
		e := newIntegrityEnv(t, 5, tc.set)
		c := e.signedIn(t, adminToken)
		r := e.download(t, c, tc.query)
		if r.code != tc.code || !strings.Contains(r.body, tc.says) || strings.HasPrefix(r.body, "PK") ||
			strings.Contains(r.body, "/keys/signing.pem") || r.header.Get("Content-Type") == "application/zip" {
			t.Errorf("%s: %d %q\n%s", tc.name, r.code, r.header.Get("Content-Type"), r.body)
		}
	}
}

// blockingStore blocks the Scan of chain "agent-b" until its gate opens,
// and fails it with fail when fail is set.
type blockingStore struct {
	verify.Store
	reached chan struct{}
	gate    chan struct{}
	fail    error
}

func (s blockingStore) Scan(ctx context.Context, chain string, fn func(sink.Row) error) error {
	if chain == "agent-b" {
		select {
		case s.reached <- struct{}{}:
		default:
		}
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		if s.fail != nil {
			return s.fail
		}
	}
	return s.Store.Scan(ctx, chain, fn)
}

// TestEvidence_Streams: the bundle's first bytes reach the client while
// the store is still being read (it is not built in memory first); a
// second download meanwhile is refused (429), and a store that fails in
// the middle cuts the response, so that the client never holds a zip
// that opens.
func TestEvidence_Streams(t *testing.T) {
	for _, fail := range []error{nil, errors.New("the store went away")} {
		bs := blockingStore{reached: make(chan struct{}, 1), gate: make(chan struct{}), fail: fail}
		e := newIntegrityEnv(t, 3000, func(ig *Integrity) { bs.Store = ig.Store; ig.Store = bs })
		c := e.signedIn(t, adminToken)
		res, err := c.Get(e.srv.URL + "/console/evidence.zip")
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 4)
		if _, err := io.ReadFull(res.Body, head); err != nil || string(head) != "PK\x03\x04" {
			t.Fatalf("first bytes %q (%v)", head, err)
		}
		select {
		case <-bs.reached:
		case <-time.After(60 * time.Second):
			t.Fatal("the export never reached the second chain")
		}
		if r := e.download(t, c, ""); r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Errorf("a second download meanwhile: %d", r.code)
		}
		close(bs.gate)
		rest, err := io.ReadAll(res.Body)
		res.Body.Close()
		whole := append(head, rest...)
		_, zerr := zip.NewReader(bytes.NewReader(whole), int64(len(whole)))
		switch {
		case fail == nil && (err != nil || zerr != nil):
			t.Errorf("the whole bundle: read %v, zip %v", err, zerr)
		case fail != nil && (err == nil || zerr == nil):
			t.Errorf("a store failing midway: read error %v, zip error %v; want both", err, zerr)
		}
	}
}
