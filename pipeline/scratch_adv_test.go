package pipeline

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// manyPerLine is a dialect that makes per records of each line, each
// with arguments and detail of its own: some with PII, some without, one
// that cannot be redacted.
type manyPerLine struct{ per int }

func manyArgs(n, j int) (args, detail json.RawMessage) {
	switch {
	case j == 3:
		args = json.RawMessage(`{"broken":`) // not JSON: UNPROCESSABLE
	case j%2 == 0:
		args = fmt.Appendf(nil, `{"n":%d,"j":%d,"email":"user%d-%d@example.com","pad":%q}`, n, j, n, j, strings.Repeat("p", 40*j))
	default:
		args = fmt.Appendf(nil, `{"n":%d,"j":%d,"note":"plain-%d-%d"}`, n, j, n, j)
	}
	if j%3 == 0 {
		detail = fmt.Appendf(nil, `{"k":"d%d-%d","contact":"reach d%d-%d@example.org"}`, n, j, n, j)
	} else {
		detail = fmt.Appendf(nil, `{"k":"d%d-%d"}`, n, j)
	}
	return args, detail
}

func (d manyPerLine) Parse(l parse.Line, now time.Time, emit func(*record.Record)) {
	var n int
	fmt.Sscanf(string(l.Text), "line %d", &n)
	for j := range d.per {
		args, detail := manyArgs(n, j)
		src := l.Source
		emit(&record.Record{TS: now, IngestedAt: now, Action: record.ActionToolCall, Tool: fmt.Sprintf("t%d", j),
			Arguments: args, Detail: detail, Source: &src})
	}
}

// Records sealed one after the other, many from one line, with the
// sidecar's own records (gaps with PII in a string), checkpoints after
// every record and checkpoints made inside seal (a retention period
// beginning at each record) between them: each record's payload holds
// its own values redacted, and its manifest its own hits only.
func TestIngest_ScratchValuesArePerRecord(t *testing.T) {
	sp := newSpool(t)
	red, err := redact.New(redact.Config{Packs: []string{"core"}})
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := chain.ParseSigner(chain.DefaultSignerName, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(17 * time.Minute); return clock }
	const per = 7
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: red, BatchRecords: 1 << 20, BatchWait: time.Hour,
		Now: now, Dialect: func() parse.Dialect { return manyPerLine{per} },
		Checkpoint: CheckpointConfig{Signer: signer, Every: 3}, Retention: Retention{MaxAge: 1000 * time.Hour, Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	const lines = 12
	for n := range lines {
		in.handle(line(n, fmt.Sprintf("line %d", n)))
		if n%4 == 1 {
			in.handle(tailer.Line{Path: "/log", Dev: 1, Ino: 2, Gap: &tailer.Gap{Reason: tailer.RefusedOutside, Target: fmt.Sprintf("/home/gap%d@example.net/x", n)}})
		}
	}
	// What each agent record must hold: its values redacted on their own.
	redacted := func(v json.RawMessage, root string) (json.RawMessage, []string) {
		var paths []string
		out, err := red.ExplainJSONFunc(nil, v, root, map[string]int{}, func(h redact.Hit) { paths = append(paths, h.Path) })
		if err != nil {
			return json.RawMessage(`"[REDACTED:UNPROCESSABLE]"`), []string{root}
		}
		return out, paths
	}
	agent, own, ckpts := 0, 0, 0
	for _, s := range in.batch {
		r, err := record.Parse(s.Payload)
		if err != nil {
			t.Fatalf("seq %d: %v", s.Seq, err)
		}
		ix, err := record.Index(s.Payload)
		if err != nil {
			t.Fatal(err)
		}
		want := *s.Indexed
		want.PrevMAC, want.HasPrevMAC = [32]byte{}, false
		if ix != want {
			t.Errorf("seq %d: Indexed %+v, payload's %+v", s.Seq, want, ix)
		}
		switch r.Action {
		case record.ActionCheckpoint:
			ckpts++
			continue
		case record.ActionGap:
			own++
			if bytes.Contains(r.Detail, []byte("@example.net")) || r.Manifest == nil || len(r.Manifest.Rules) != 1 {
				t.Errorf("seq %d: gap detail %s, manifest %+v", s.Seq, r.Detail, r.Manifest)
			}
			continue
		case record.ActionToolCall:
		default:
			continue
		}
		var n, j int
		fmt.Sscanf(r.Tool, "t%d", &j)
		n = agent / per
		if agent%per != j {
			t.Fatalf("seq %d: record %d of the agent's is t%d", s.Seq, agent, j)
		}
		agent++
		args, detail := manyArgs(n, j)
		wantArgs, argPaths := redacted(args, "arguments")
		wantDetail, detailPaths := redacted(detail, "detail")
		if !bytes.Equal(r.Arguments, wantArgs) {
			t.Errorf("seq %d (line %d, record %d): arguments %s, want %s", s.Seq, n, j, r.Arguments, wantArgs)
		}
		if !bytes.Equal(r.Detail, wantDetail) {
			t.Errorf("seq %d (line %d, record %d): detail %s, want %s", s.Seq, n, j, r.Detail, wantDetail)
		}
		var got []string
		if r.Manifest != nil {
			for _, rh := range r.Manifest.Rules {
				got = append(got, rh.Paths...)
			}
		}
		wantPaths := append(argPaths, detailPaths...)
		if len(got) != len(wantPaths) {
			t.Errorf("seq %d (line %d, record %d): manifest paths %v, want %v", s.Seq, n, j, got, wantPaths)
		}
	}
	if agent != lines*per || own != 3 || ckpts < lines {
		t.Fatalf("%d agent records, %d gaps, %d checkpoints", agent, own, ckpts)
	}
}
