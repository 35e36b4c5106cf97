package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// manyChains is a store of n one-record chains ("c-00000", ...), whose
// chains at the indexes in broken have their record's MAC altered.
func manyChains(t *testing.T, key chain.Key, n int, broken ...int) memStore {
	t.Helper()
	st := memStore{}
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("c-%05d", i)
		sl := chain.NewSealer(id, key, chain.Head{}).Seal(&record.Record{Action: record.ActionChainStart, TS: at, IngestedAt: at})
		mac := sl.MAC
		for _, b := range broken {
			if b == i {
				mac[0] ^= 1
			}
		}
		st[id] = []sink.Row{{Chain: id, Seq: 1, Payload: sl.Payload, MAC: mac[:], PayloadOnly: true}}
	}
	return st
}

// A store of many chains gives an HTML page and a "checked" member of
// bounded size, listing the chains with problems first and adding up the
// rest with exact totals; --json's own chains and exposure stay complete.
func TestReport_ManyChainsBounded(t *testing.T) {
	key, err := chain.NewKey("", checkedSecret)
	if err != nil {
		t.Fatal(err)
	}
	const n = MaxCheckedChains + 500
	broken := []int{7, n - 3} // the second is past every bound by its place
	rep, err := Run(context.Background(), manyChains(t, key, n, broken...), Options{Keys: chain.Keyring{key.ID: key}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != Invalid || len(rep.Chains) != n || len(rep.Exposure) < n {
		t.Fatalf("verdict %s, %d chains, %d exposure lines", rep.Verdict, len(rep.Chains), len(rep.Exposure))
	}

	var page bytes.Buffer
	if err := WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if got := strings.Count(html, "<h3>Chain "); got != MaxHTMLChains {
		t.Errorf("the page lists %d chains, want %d", got, MaxHTMLChains)
	}
	for _, b := range broken {
		if !strings.Contains(html, fmt.Sprintf("<h3>Chain <code>c-%05d</code>", b)) {
			t.Errorf("the page does not list chain c-%05d, which has a problem", b)
		}
	}
	more := fmt.Sprintf("And %d more chains, not listed one by one: %d records, 0 problems proving tampering or damage, 0 that could not be checked.", n-MaxHTMLChains, n-MaxHTMLChains)
	if !strings.Contains(html, more) {
		t.Errorf("the page does not add up the other chains as %q", more)
	}
	if got := strings.Count(html, "<li>"); got > MaxHTMLUnprotected || !strings.Contains(html, "more lines, about chains not listed in this report") {
		t.Errorf("the page lists %d unprotected lines (at most %d) or does not count the others", got, MaxHTMLUnprotected)
	}
	if page.Len() > 256<<10 {
		t.Errorf("the page is %d bytes", page.Len())
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Chains   []chain.Summary `json:"chains"`
		Exposure []string        `json:"exposure"`
		Checked  Checked         `json:"checked"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	c := got.Checked
	if len(got.Chains) != n || len(got.Exposure) != len(rep.Exposure) {
		t.Errorf("--json lists %d chains and %d exposure lines, want every one", len(got.Chains), len(got.Exposure))
	}
	if len(c.Chains) != MaxCheckedChains || c.MoreChains == nil || c.MoreChains.Chains != n-MaxCheckedChains ||
		c.MoreChains.Records != n-MaxCheckedChains || c.MoreChains.Actions[record.ActionChainStart] != n-MaxCheckedChains || c.MoreChains.Problems != 0 {
		t.Errorf("checked lists %d chains, adds up %+v", len(c.Chains), c.MoreChains)
	}
	for _, b := range broken {
		found := false
		for _, a := range c.Chains {
			found = found || a.Chain == fmt.Sprintf("c-%05d", b)
		}
		if !found {
			t.Errorf("checked does not list chain c-%05d, which has a problem", b)
		}
	}
	if len(c.Unprotected)+c.MoreUnprotected != len(rep.Exposure) || c.MoreUnprotected == 0 {
		t.Errorf("checked: %d unprotected lines and %d more, of %d exposure lines", len(c.Unprotected), c.MoreUnprotected, len(rep.Exposure))
	}
}

// No reassuring words on a page whose verdict is not valid: an
// unverifiable verdict neither proves nor rules out tampering, a
// checkpoint whose signature was not checked is not called signed; and a
// chain id's characters that are not printable are shown as marked
// escapes, never as they are.
func TestWriteHTML_NoReassuranceUnlessValid(t *testing.T) {
	sc := newSignedChain(t, 25, "search", nil)
	id := "ops\x1b[8m\u202egnp.exe\r"
	var rows []sink.Row
	for _, s := range sc.sealed {
		p := bytes.Replace(s.Payload, []byte(`"chain":"`+witnessChain+`"`), []byte(`"chain":"ops\u001b[8m`+"\u202e"+`gnp.exe\r"`), 1)
		rows = append(rows, sink.Row{Chain: id, Seq: s.Seq, Payload: p, MAC: s.MAC[:], PayloadOnly: true})
	}
	// No key, no public key: the checkpoints' signatures are not checked,
	// the chain id's records do not check out: not valid.
	rep, err := Run(context.Background(), memStore{id: rows}, Options{Keys: chain.Keyring{sc.key.ID: sc.key}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict == Valid {
		t.Fatalf("verdict valid")
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"No tampering was proven", "every record was covered", "\x1b", "\u202e", "\r"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page says or holds %q", bad)
		}
	}
	if !strings.Contains(page, `<span class="ctl" title="a character that is not printable">\x1b</span>`) ||
		!strings.Contains(page, `<span class="ctl" title="a character that is not printable">\u202e</span>`) {
		t.Errorf("the chain id's control characters are not shown as marked escapes")
	}

	// The same chain, sound, checked without a public key: its
	// checkpoints are not called signed.
	rep = verifyPath(t, sc.store(t, 25), Options{Keys: chain.Keyring{sc.key.ID: sc.key}})
	b.Reset()
	if err := WriteHTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "the signature was not checked") {
		t.Errorf("a checkpoint whose signature was not checked is called signed")
	}

	// An unverifiable verdict says tampering was neither proven nor ruled out.
	rep = verifyPath(t, sc.store(t, 25), Options{Keys: chain.Keyring{sc.key.ID: sc.key}, Expect: []string{"other"}})
	b.Reset()
	if err := WriteHTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != Unverifiable || !strings.Contains(b.String(), "Tampering was neither proven nor ruled out") {
		t.Errorf("verdict %s; the page does not say tampering was neither proven nor ruled out", rep.Verdict)
	}
}
