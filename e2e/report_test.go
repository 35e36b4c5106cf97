package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// agentDay is n native events of an agent at work, one a minute from
// 2026-03-04 09:00 UTC, of every agent action; each carries its number n.
func agentDay(n int) string {
	kinds := []map[string]any{
		{"action": "decision", "outcome": "success"},
		{"action": "model_call", "model": "granite-3.3-8b"},
		{"action": "tool_call", "tool": "payments.refund", "arguments": map[string]any{"email": "dana@example.com", "amount": 249}},
		{"action": "tool_result", "tool": "payments.refund", "outcome": "success"},
		{"action": "approval_requested", "tool": "payments.refund"},
		{"action": "approval_granted", "approver": "m-4", "outcome": "approved"},
		{"action": "tool_call", "tool": "crm.lookup", "arguments": map[string]any{"customer": "c-81"}},
		{"action": "error", "outcome": "failure"},
	}
	base := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	var b strings.Builder
	for i := range n {
		ev := map[string]any{"ts": base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339), "user": "u-17", "tenant": "acme", "session": "s-9", "n": i}
		for k, v := range kinds[i%len(kinds)] {
			ev[k] = v
		}
		b.WriteString(event(ev))
	}
	return b.String()
}

// verifyIn runs `audit-sidecar verify args...` in dir (relative paths in
// args are the folder's).
func verifyIn(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*exitDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"verify"}, args...)...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		t.Fatalf("verify: %v; stderr:\n%s", err, errb.String())
	}
	return code, out.String(), errb.String()
}

// checkedJSON is the part of `verify --json` that this test reads.
type checkedJSON struct {
	Verdict string `json:"verdict"`
	Checked struct {
		Tool struct {
			Name, Version string
			Go            string `json:"go"`
		} `json:"tool"`
		RanAt time.Time `json:"ran_at"`
		Input string    `json:"input"`
		MACs  struct {
			Checked bool `json:"checked"`
			Keys    []struct{ Kid, Fingerprint string }
		} `json:"macs"`
		Signatures struct {
			Checked bool `json:"checked"`
			Keys    []struct {
				Name, Algorithm, Fingerprint string
				KeyHash                      string `json:"key_hash"`
			}
		} `json:"signatures"`
		Witness struct {
			Checked     bool   `json:"checked"`
			Source      string `json:"source"`
			Checkpoints []struct {
				Chain string `json:"chain"`
				Size  int    `json:"size"`
			} `json:"checkpoints"`
		} `json:"witness"`
		Freshness struct {
			Checked bool   `json:"checked"`
			MaxAge  string `json:"max_age"`
		} `json:"freshness"`
		Chains []struct {
			Chain      string         `json:"chain"`
			Records    int            `json:"records"`
			EventsFrom time.Time      `json:"events_from"`
			EventsTo   time.Time      `json:"events_to"`
			Actions    map[string]int `json:"actions"`
		} `json:"chains"`
		Problems []struct {
			About, Kind, What, Where, Means, Reason string
			Known                                   bool
		} `json:"problems"`
		Unprotected []string `json:"unprotected"`
	} `json:"checked"`
}

// TestE2E_VerifyReport runs a sidecar that signs checkpoints into a
// witness folder, then verifies its store with the real binary, as
// intact and after an insider edited a record and deleted two: --json
// says under "checked" what was checked (keys by fingerprints an auditor
// can recompute, the witness, the freshness bound, the tool), what each
// chain holds, and each problem in plain words; --report writes the same
// as one HTML page, which headless Chromium renders with the verdict and
// the problems visible, readable contrast and print styles. With
// AUDIT_UPDATE_SCREENSHOT=1 the page's screenshot is written to
// docs/img/verify-report.png for the README.
func TestE2E_VerifyReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.chainID = "support-agent"
	pub, _ := withCheckpoints(t, e)
	appendLines(t, e.logPath, agentDay(60))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 60, p)
	p.stop(t)

	// What an auditor recomputes on their own: the key id and the
	// fingerprints, from the key file and the public key file.
	m := hmac.New(sha256.New, e.key)
	m.Write([]byte("audit-sidecar key id"))
	kid := "hk-" + hex.EncodeToString(m.Sum(nil))[:16]
	fp := sha256.Sum256(append([]byte("audit-sidecar hmac key fingerprint v1\x00"), e.key...))
	wantKeyFP := hex.EncodeToString(fp[:16])
	pubPEM, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pubPEM)
	pfp := sha256.Sum256(blk.Bytes)
	wantPubFP := hex.EncodeToString(pfp[:])

	args := []string{"--config", "config.yaml", "--pubkey", filepath.Base(pub), "--witness", "witness", "--max-age", "24h", "--json"}
	code, out, errs := verifyIn(t, e.dir, append(args, "--report", "valid.html")...)
	if code != 0 {
		t.Fatalf("intact store: exit %d\n%s\n%s", code, out, errs)
	}
	var rep checkedJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	c := rep.Checked
	if c.Tool.Name != "audit-sidecar" || c.Tool.Version == "" || c.Tool.Go == "" || c.RanAt.IsZero() || !strings.Contains(c.Input, `sqlite sink "local" of config.yaml`) {
		t.Errorf("tool %+v, ran_at %v, input %q", c.Tool, c.RanAt, c.Input)
	}
	if !c.MACs.Checked || len(c.MACs.Keys) != 1 || c.MACs.Keys[0].Kid != kid || c.MACs.Keys[0].Fingerprint != wantKeyFP {
		t.Errorf("macs %+v, want kid %s fingerprint %s", c.MACs, kid, wantKeyFP)
	}
	if !c.Signatures.Checked || len(c.Signatures.Keys) != 1 || c.Signatures.Keys[0].Fingerprint != wantPubFP || c.Signatures.Keys[0].Algorithm != "Ed25519" || len(c.Signatures.Keys[0].KeyHash) != 8 {
		t.Errorf("signatures %+v, want fingerprint %s", c.Signatures, wantPubFP)
	}
	if !c.Witness.Checked || c.Witness.Source != "witness" || len(c.Witness.Checkpoints) != 1 || c.Witness.Checkpoints[0].Size != witnessedSize(t, filepath.Join(e.dir, "witness"), e.chainID) {
		t.Errorf("witness %+v", c.Witness)
	}
	if !c.Freshness.Checked || c.Freshness.MaxAge != "24h0m0s" {
		t.Errorf("freshness %+v", c.Freshness)
	}
	if len(c.Chains) != 1 {
		t.Fatalf("chains %+v", c.Chains)
	}
	ch := c.Chains[0]
	for action, n := range map[string]int{"decision": 8, "model_call": 8, "tool_call": 15, "tool_result": 8, "approval_requested": 7, "approval_granted": 7, "error": 7, "chain_start": 1} {
		if ch.Actions[action] != n {
			t.Errorf("chain %s: %d %s records, want %d (all: %v)", ch.Chain, ch.Actions[action], action, n, ch.Actions)
		}
	}
	if !ch.EventsFrom.Equal(time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)) || ch.EventsTo.Before(time.Date(2026, 3, 4, 9, 59, 0, 0, time.UTC)) || ch.Actions["checkpoint"] == 0 {
		t.Errorf("chain %s: events %v..%v, actions %v", ch.Chain, ch.EventsFrom, ch.EventsTo, ch.Actions)
	}
	if len(c.Problems) != 0 || len(c.Unprotected) == 0 {
		t.Errorf("intact store: problems %+v, unprotected %v", c.Problems, c.Unprotected)
	}
	page := readPage(t, filepath.Join(e.dir, "valid.html"))
	for _, w := range []string{"Valid: no sign of tampering was found", wantKeyFP, wantPubFP, kid, "24h0m0s"} {
		if !strings.Contains(page, w) {
			t.Errorf("valid.html lacks %q", w)
		}
	}

	// An insider edits a refund's amount and deletes two records.
	dropTriggers(t, db)
	mustExec(t, db, `UPDATE audit_records SET payload = CAST(replace(CAST(payload AS TEXT), '"amount":249', '"amount":2490') AS BLOB)
		WHERE seq = (SELECT min(seq) FROM audit_records WHERE seq > 20 AND CAST(payload AS TEXT) LIKE '%"amount":249%')`)
	mustExec(t, db, `DELETE FROM audit_records WHERE seq IN (40, 41)`)
	db.Close()

	code, out, errs = verifyIn(t, e.dir, append(args, "--report", "tampered.html")...)
	if code != 1 {
		t.Fatalf("tampered store: exit %d, want 1\n%s\n%s", code, out, errs)
	}
	rep = checkedJSON{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	var sawMAC, sawMissing bool
	for _, p := range rep.Checked.Problems {
		if !p.Known || p.Where == "" || p.Means == "" {
			t.Errorf("problem not in plain words: %+v", p)
		}
		sawMAC = sawMAC || p.Reason == "mac mismatch"
		sawMissing = sawMissing || p.Reason == "records missing" && p.Where == `chain "support-agent", records 40 to 41`
	}
	if !sawMAC || !sawMissing {
		t.Errorf("problems %+v: want the edited record and records 40 to 41 missing", rep.Checked.Problems)
	}
	noKey(t, out+errs, e.key)
	tampered := filepath.Join(e.dir, "tampered.html")
	noKey(t, readPage(t, tampered), e.key)

	// A chain-level problem (the freshness bound) is about the chain, in
	// the text output too: never "seq 0".
	time.Sleep(2 * time.Millisecond)
	code, out, _ = verifyIn(t, e.dir, "--config", "config.yaml", "--pubkey", filepath.Base(pub), "--max-age", "1ms")
	if code != 1 || !strings.Contains(out, `problem: chain "support-agent": the newest checkpoint is older than the freshness bound 1ms`) || strings.Contains(out, "seq 0") {
		t.Errorf("freshness: exit %d\n%s", code, out)
	}

	// A report that cannot be written is an I/O error (exit 2), and
	// leaves nothing behind.
	code, _, errs = verifyIn(t, e.dir, "--config", "config.yaml", "--report", filepath.Join("no-such-dir", "r.html"))
	if code != 2 || !strings.Contains(errs, "--report") {
		t.Errorf("unwritable report: exit %d, stderr %q", code, errs)
	}

	t.Run("chromium", func(t *testing.T) { renderReport(t, tampered) })
}

func readPage(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return html.UnescapeString(string(b))
}

// noKey fails if s holds the HMAC key, raw or in hex.
func noKey(t *testing.T, s string, key []byte) {
	t.Helper()
	for _, form := range []string{string(key), hex.EncodeToString(key)} {
		if strings.Contains(s, form) {
			t.Fatal("the output holds the HMAC key")
		}
	}
}

// renderReport opens the report of a tampered store in headless Chromium
// and checks what a reader sees: the verdict and the problems in plain
// words, headings in order, enough contrast, a print layout that prints;
// it keeps a screenshot.
func renderReport(t *testing.T, path string) {
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1100, 1500), chromedp.Navigate("file://"+path)); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if title != "Audit trail verification: invalid" {
		t.Errorf("title %q", title)
	}
	for _, w := range []string{
		"Verdict: INVALID", "Invalid: the audit trail was altered or damaged",
		"Problems found", `chain "support-agent", records 40 to 41`, "Records are missing from the chain.",
		"The record's content does not match its integrity code (MAC).",
		"What remains unprotected", "What the audit trail holds", "Tool calls",
		"What was checked, and with what", "Words used in this report",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered page does not show %q", w)
		}
	}
	levels, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](headingsJS))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range levels {
		if i == 0 && l != 1 || i > 0 && l > levels[i-1]+1 {
			t.Errorf("headings %v: level %d at %d skips a level", levels, l, i)
			break
		}
	}
	worst, err := chromedp.Run(ctx, chromedp.Evaluate[contrast](contrastJS))
	if err != nil {
		t.Fatal(err)
	}
	if worst.Ratio < 4.5 {
		t.Errorf("text %q has contrast %.2f:1 (%s on %s), want at least 4.5:1", worst.Text, worst.Ratio, worst.FG, worst.BG)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() != 1100 {
		t.Fatalf("screenshot: %v (%v)", err, img.Bounds())
	}
	if os.Getenv("AUDIT_UPDATE_SCREENSHOT") == "1" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, "docs", "img", "verify-report.png"), shot)
		t.Logf("wrote docs/img/verify-report.png (%d bytes)", len(shot))
	}

	// Printed: the print styles apply, and the page prints.
	if err := chromedp.Do(ctx, emulateMedia("print")); err != nil {
		t.Fatal(err)
	}
	maxWidth, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('main')).maxWidth`))
	if err != nil || maxWidth != "none" {
		t.Errorf("print media: main max-width %q (%v), want none", maxWidth, err)
	}
	printed, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil || !strings.Contains(printed, "Records are missing from the chain.") {
		t.Errorf("print media hides the problems (%v)", err)
	}
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4)))
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("print to PDF: %v (%d bytes)", err, len(pdf))
	}
}
