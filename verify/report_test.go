package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// hostileChain is a chain id as a hostile store could name it.
const hostileChain = `ops"><script>alert(1)</script><img src=x onerror=alert(2)>`

// tamperedReport verifies a chain named hostileChain whose record 4 was
// altered, with a freshness bound that it fails.
func tamperedReport(t *testing.T, key chain.Key) *Report {
	t.Helper()
	s := chain.NewSealer(hostileChain, key, chain.Head{})
	var rows []sink.Row
	base := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	for i := range 8 {
		r := &record.Record{TS: base.Add(time.Duration(i) * time.Minute), IngestedAt: base.Add(time.Duration(i) * time.Minute), Action: record.ActionToolCall, Tool: "payments.refund"}
		if i == 0 {
			r.Action = record.ActionChainStart
		}
		sl := s.Seal(r)
		if sl.Seq == 4 {
			sl.Payload = bytes.Replace(sl.Payload, []byte("payments.refund"), []byte("payments.rofund"), 1)
		}
		rows = append(rows, sink.Row{Chain: hostileChain, Seq: sl.Seq, Payload: sl.Payload, MAC: sl.MAC[:], PayloadOnly: true})
	}
	rep, err := Run(context.Background(), memStore{hostileChain: rows}, Options{Keys: chain.Keyring{key.ID: key}, MaxAge: time.Hour,
		Now: func() time.Time { return base.Add(24 * time.Hour) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep.Checked.Tool = Tool{Name: "audit-sidecar", Version: "v9.9.9-test", Revision: "0123abcd", Go: "go1.26", FIPS140: true}
	return rep
}

// The HTML report is one self-contained page: the verdict and each
// problem in plain words, what remains unprotected, what each chain holds,
// the keys by fingerprint only; every string from the store escaped; no
// script, no external asset; table headers with their scope.
func TestWriteHTML(t *testing.T) {
	key, err := chain.NewKey("", checkedSecret)
	if err != nil {
		t.Fatal(err)
	}
	rep := tamperedReport(t, key)
	if rep.Verdict != Invalid {
		t.Fatalf("verdict %s; problems %v", rep.Verdict, rep.Problems)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	text := html.UnescapeString(page)
	for _, want := range []string{
		"<!DOCTYPE html>", `<html lang="en">`, "<title>Audit trail verification: invalid</title>",
		"Invalid: the audit trail was altered or damaged",
		"The record's content does not match its integrity code (MAC).", // record 4
		"The chain's newest signed checkpoint is older than the freshness bound (1h0m0s), or it has none.",
		fmt.Sprintf("chain %q, record 4", hostileChain), fmt.Sprintf("chain %q as a whole", hostileChain),
		"What remains unprotected", "No public key was given, so no checkpoint signature was checked",
		"Tool calls", "2026-03-04 10:00:00 UTC to 2026-03-04 10:07:00 UTC",
		key.ID, key.Fingerprint(), "v9.9.9-test", "0123abcd", "1h0m0s",
		"@media print", "Words used in this report",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "<img", "url(", "@import", "http://", "https://", "<link", "<iframe", "<object", "<embed"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
	for _, tag := range regexp.MustCompile(`<[^>]*>`).FindAllString(page, -1) {
		if regexp.MustCompile(`(?i)\s(src|href|on[a-z]+|style)\s*=`).MatchString(tag) {
			t.Errorf("a tag loads or runs something: %s", tag)
		}
	}
	if strings.Contains(page, "seq 0") {
		t.Error(`the page says "seq 0"`)
	}
	noSecret(t, page, key)
	// Accessibility: headings in order from one h1, every header cell
	// scoped, every table headed.
	if n := strings.Count(page, "<h1"); n != 1 {
		t.Errorf("%d h1 headings", n)
	}
	for _, th := range regexp.MustCompile(`<th[ >][^>]*>?`).FindAllString(page, -1) {
		if !strings.Contains(th, "scope=") {
			t.Errorf("header cell without scope: %s", th)
		}
	}
	for _, table := range strings.Split(page, "<table>")[1:] {
		body, _, _ := strings.Cut(table, "</table>")
		if !strings.Contains(body, "<th") {
			t.Errorf("a table has no header cell: %.200s", body)
		}
	}

	// A report built by hand (no Checked) still renders, and a writer
	// that fails is an error.
	if err := WriteHTML(&bytes.Buffer{}, &Report{Verdict: Valid}); err != nil {
		t.Errorf("bare report: %v", err)
	}
	if err := WriteHTML(failWriter{}, rep); err == nil {
		t.Error("a failing writer: no error")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// Each verdict has its headline and the exit code it maps to.
func TestWriteHTML_Verdicts(t *testing.T) {
	for _, tc := range []struct {
		rep  *Report
		want []string
	}{
		{&Report{Verdict: Valid}, []string{"Valid: no sign of tampering was found", "Exit code 0", "No problem was found."}},
		{&Report{Verdict: Unverifiable, Problems: []*chain.VerifyError{{Chain: "c", Seq: 3, Reason: `no key for kid "hk-1"`, Unverifiable: true}}},
			[]string{"Unverifiable: the audit trail could not be fully checked", "Exit code 3", "1 thing could not be checked", `which this check was not given`}},
		{&Report{Verdict: Invalid, Problems: []*chain.VerifyError{{Chain: "c", Seq: 2, Through: 9, Reason: "records missing"}, {Chain: "c", Seq: 12, Reason: "a reason nobody explained"}}},
			[]string{"Exit code 1", "2 problems prove", `chain "c", records 2 to 9`, "a reason nobody explained", "no explanation in plain words yet"}},
	} {
		var buf bytes.Buffer
		if err := WriteHTML(&buf, tc.rep); err != nil {
			t.Fatal(err)
		}
		text := html.UnescapeString(buf.String())
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the page lacks %q", tc.rep.Verdict, w)
			}
		}
	}
}

// An emptied store reads as such: the chain a witness names is shown with
// no record, its problem is about the chain as a whole, and an input that
// holds nothing at all is about the input, never a "chain" with no name.
func TestWriteHTML_EmptiedStore(t *testing.T) {
	w := chain.Checkpoint{Chain: "gone", Size: 40, Time: time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		name string
		opts Options
		want []string
	}{
		{"witnessed", Options{Witnessed: []chain.Checkpoint{w}}, []string{
			"none: the store holds no record of this chain",
			"No record of this chain is left, but the checkpoint kept off the pod (of 2026-03-04 10:00:00 UTC) shows that it held 40 records.",
			`chain "gone" as a whole`, "What was read: the live store"}},
		{"nothing", Options{}, []string{"The input holds no records at all.", "the input as a whole", "The input holds no chain."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(context.Background(), memStore{}, tc.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict == Valid {
				t.Fatalf("an empty store is %s", rep.Verdict)
			}
			var buf bytes.Buffer
			if err := WriteHTML(&buf, rep); err != nil {
				t.Fatal(err)
			}
			text := html.UnescapeString(buf.String())
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("the page lacks %q", w)
				}
			}
			if strings.Contains(text, `chain ""`) {
				t.Error(`the page names a chain ""`)
			}
		})
	}
}
