package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sample() *Record {
	ts := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	return &Record{
		V: Version, Chain: "demo", Seq: 7, TS: ts, IngestedAt: ts.Add(time.Second), Action: ActionToolCall,
		User: "u-17", Tenant: "acme", Agent: "bot", Session: "s", Trace: "t", Model: "m", Tool: "pay.refund",
		Arguments: json.RawMessage(`{"a":[1,"x"]}`), Outcome: "success", Approver: "ops",
		Detail: json.RawMessage(`{"k":"v"}`),
		Manifest: &Manifest{Policy: "rp1-0123456789abcdef", Rules: []RuleHits{
			{Rule: "builtin:CARD", Type: "CARD", Count: 1, Paths: []string{"arguments.card"}},
			{Rule: "builtin:EMAIL", Type: "EMAIL", Count: 2, Paths: []string{"arguments.to[0]", `detail["a b"]`}, More: 3},
			{Rule: "rule:emp", Type: "EMP", Count: 1},
		}},
		Source: &Source{File: "/x", Dev: 1, Ino: 2, Offset: 3}, Kid: "k1", Prev: strings.Repeat("ab", 32),
	}
}

func TestCanonical_RoundTrip(t *testing.T) {
	r := sample()
	p := AppendCanonical(nil, r)
	want := `{"v":2,"chain":"demo","seq":7,"ts":"2026-11-26T10:00:00.123456789Z","ingested_at":"2026-11-26T10:00:01.123456789Z","action":"tool_call","user":"u-17","tenant":"acme","agent":"bot","session":"s","trace":"t","model":"m","tool":"pay.refund","arguments":{"a":[1,"x"]},"outcome":"success","approver":"ops","detail":{"k":"v"},` +
		`"redactions":{"policy":"rp1-0123456789abcdef","rules":[{"rule":"builtin:CARD","type":"CARD","count":1,"paths":["arguments.card"]},{"rule":"builtin:EMAIL","type":"EMAIL","count":2,"paths":["arguments.to[0]","detail[\"a b\"]"],"more":3},{"rule":"rule:emp","type":"EMP","count":1}]},` +
		`"source":{"file":"/x","dev":1,"ino":2,"offset":3},"kid":"k1","prev":"` + strings.Repeat("ab", 32) + `"}`
	if string(p) != want {
		t.Fatalf("payload\n%s\nwant\n%s", p, want)
	}
	got, err := Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(AppendCanonical(nil, got)) != want {
		t.Fatal("parse + encode is not the identity")
	}
	idx, err := Index(p)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Chain != r.Chain || idx.Seq != r.Seq || idx.TS != FormatTime(r.TS) || idx.IngestedAt != FormatTime(r.IngestedAt) || idx.Tenant != r.Tenant || idx.Prev != r.Prev || idx.Approver != r.Approver {
		t.Fatalf("index %+v", idx)
	}
	full := AppendJSON(nil, p, [32]byte{1})
	if !json.Valid(full) || !strings.HasSuffix(string(full), `"mac":"0100000000000000000000000000000000000000000000000000000000000000"}`) {
		t.Fatalf("AppendJSON %s", full)
	}
}

// TestSource_RawSHA256: the optional digest of a line that was not valid
// UTF-8 is the source object's last member, round-trips, and is refused
// when it is anything but 64 lower-case hex digits (an empty one is not
// canonical: the encoder leaves it out).
func TestSource_RawSHA256(t *testing.T) {
	r := sample()
	sum := strings.Repeat("0f", 32)
	r.Source.RawSHA256 = sum
	p := AppendCanonical(nil, r)
	if !strings.Contains(string(p), `"source":{"file":"/x","dev":1,"ino":2,"offset":3,"raw_sha256":"`+sum+`"},"kid"`) {
		t.Fatalf("payload %s", p)
	}
	got, err := Parse(p)
	if err != nil || got.Source.RawSHA256 != sum {
		t.Fatalf("parse: %v, %+v", err, got.Source)
	}
	for name, v := range map[string]string{
		"upper case": strings.ToUpper(sum),
		"short":      sum[:62],
		"not hex":    strings.Repeat("zz", 32),
		"a number":   "",
	} {
		bad := strings.Replace(string(p), `"`+sum+`"`, `"`+v+`"`, 1)
		if name == "a number" {
			bad = strings.Replace(string(p), `"`+sum+`"`, `12`, 1)
		}
		if _, err := Parse([]byte(bad)); err == nil || errors.Is(err, ErrNotCanonical) {
			t.Errorf("%s: %v, want a decode error", name, err)
		}
	}
	empty := strings.Replace(string(p), sum, "", 1)
	if _, err := Parse([]byte(empty)); err == nil {
		t.Error("an empty raw_sha256 parsed")
	}
}

func TestParse_RejectsNonCanonical(t *testing.T) {
	p := string(AppendCanonical(nil, sample()))
	for name, mutated := range map[string]string{
		"white space":    strings.Replace(p, `"seq":7`, `"seq": 7`, 1),
		"reordered":      strings.Replace(strings.Replace(p, `"user":"u-17",`, ``, 1), `"tenant":"acme",`, `"tenant":"acme","user":"u-17",`, 1),
		"extra key":      strings.Replace(p, `"kid"`, `"evil":1,"kid"`, 1),
		"escaped letter": strings.Replace(p, `"u-17"`, `"\u0075-17"`, 1),
		"time format":    strings.Replace(p, `10:00:00.123456789Z`, `10:00:00.123456789+00:00`, 1),
	} {
		if _, err := Parse([]byte(mutated)); !errors.Is(err, ErrNotCanonical) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Parse([]byte(`{"v":1`)); err == nil {
		t.Error("truncated payload parsed")
	}
}

func TestAppendString(t *testing.T) {
	cases := map[string]string{
		"plain":          `"plain"`,
		"q\"b\\":         `"q\"b\\"`,
		"\n\r\t\x00\x1f": `"\n\r\t\u0000\u001f"`,
		"<&>\u2028":      "\"<&>\u2028\"",
		"bad\xffutf8":    "\"bad\uFFFDutf8\"",
		"ünïcödé":        `"ünïcödé"`,
		"\x7f":           "\"\x7f\"",
	}
	for in, want := range cases {
		if got := string(AppendString(nil, in)); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

// FuzzCanonical: any record with valid embedded JSON encodes to valid JSON
// that Parse accepts as canonical and decodes back to the same bytes.
func FuzzCanonical(f *testing.F) {
	f.Add("u-17", "acme", `{"a":1}`, "tool_call", int64(0), uint64(1))
	f.Add("q\"\\\n\x00\xff", "<&>", `[]`, "x", int64(-1), uint64(1<<63))
	f.Fuzz(func(t *testing.T, user, tenant, args, action string, nsec int64, seq uint64) {
		if !json.Valid([]byte(args)) || !utf8.ValidString(args) || strings.ContainsAny(args, " \n\t\r") {
			return
		}
		r := sample()
		r.User, r.Tenant, r.Action, r.Seq = user, tenant, action, seq
		r.Arguments = json.RawMessage(args)
		r.TS = time.Unix(0, nsec).UTC()
		if r.TS.Year() < 0 || r.TS.Year() > 9999 {
			return
		}
		p := AppendCanonical(nil, r)
		if !json.Valid(p) || !utf8.Valid(p) {
			t.Fatalf("invalid payload %q", p)
		}
		got, err := Parse(p)
		if err != nil {
			t.Fatalf("%v: %q", err, p)
		}
		if string(AppendCanonical(nil, got)) != string(p) {
			t.Fatalf("round trip changed the payload")
		}
	})
}

// parseTime agrees with time.Parse on the payload layout and falls back to
// it for anything else.
func TestParseTime(t *testing.T) {
	base := time.Date(2026, 11, 27, 4, 5, 6, 7, time.UTC)
	for i := range 2000 {
		want := base.Add(time.Duration(i) * 7919 * time.Hour).Add(time.Duration(i*104729) * time.Nanosecond)
		got, err := parseTime(FormatTime(want))
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("%s: %v %v", FormatTime(want), got, err)
		}
	}
	for _, s := range []string{"2026-02-30T00:00:00.000000000Z", "2026-13-01T00:00:00.000000000Z", "2026-11-27T24:00:00.000000000Z", "2026-11-27T00:00:00.00000000xZ", "2026-11-27T00:00:00Z", ""} {
		_, err := parseTime(s)
		_, want := time.Parse(time.RFC3339Nano, s)
		if (err == nil) != (want == nil) {
			t.Errorf("%q: err %v, time.Parse err %v", s, err, want)
		}
	}
}

// TestParse_Version1: payloads written before the manifest (v 1, type ->
// count) still parse and re-encode to the same bytes.
func TestParse_Version1(t *testing.T) {
	p := `{"v":1,"chain":"demo","seq":2,"ts":"2026-11-26T10:00:00.123000000Z","ingested_at":"2026-11-26T10:00:00.124000000Z","action":"tool_call","arguments":{"card":"[REDACTED:CARD]"},"redactions":{"CARD":1,"EMAIL":1},"kid":"k","prev":"` + strings.Repeat("00", 32) + `"}`
	r, err := Parse([]byte(p))
	if err != nil {
		t.Fatal(err)
	}
	if r.V != 1 || r.Redactions["CARD"] != 1 || r.Manifest != nil {
		t.Errorf("decoded %+v", r)
	}
	if string(AppendCanonical(nil, r)) != p {
		t.Errorf("v1 re-encoding differs")
	}
}

func TestManifestBuilder(t *testing.T) {
	var b ManifestBuilder
	if b.Manifest("p") != nil {
		t.Fatal("empty builder made a manifest")
	}
	for i := 0; i < 20; i++ {
		b.Add("builtin:EMAIL", "EMAIL", fmt.Sprintf("a.to[%02d]", i))
	}
	b.Add("builtin:EMAIL", "EMAIL", "a.to[00]")
	b.Add("builtin:CARD", "CARD", strings.Repeat("k.", 200))
	b.Add("builtin:CARD", "CARD", "")
	m := b.Manifest("rp1-x")
	if m.Policy != "rp1-x" || len(m.Rules) != 2 || m.Rules[0].Rule != "builtin:CARD" || m.Rules[0].Count != 2 ||
		len(m.Rules[0].Paths) != 1 || len(m.Rules[0].Paths[0]) != MaxPathBytes || !strings.HasSuffix(m.Rules[0].Paths[0], "...") {
		t.Errorf("card: %+v", m.Rules[0])
	}
	if e := m.Rules[1]; e.Count != 21 || len(e.Paths) != MaxManifestPaths || e.More != 4 || e.Paths[0] != "a.to[00]" {
		t.Errorf("email: %+v", e)
	}
}

// AppendTime writes what the generic formatter writes, for any time.
func TestAppendTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	times := []time.Time{{}, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 27, 5, 4, 3, 2, time.FixedZone("x", -7*3600))}
	for range 10000 {
		times = append(times, time.Unix(rng.Int64N(1<<36)-1<<35, rng.Int64N(1e9)).In(time.FixedZone("y", rng.IntN(50000)-25000)))
	}
	for _, tm := range times {
		want := tm.UTC().Format(TimeLayout)
		if got := string(AppendTime([]byte("x"), tm)); got != "x"+want {
			t.Fatalf("AppendTime(%v) = %q, want %q", tm, got, "x"+want)
		}
		if got := FormatTime(tm); got != want {
			t.Fatalf("FormatTime(%v) = %q, want %q", tm, got, want)
		}
	}
}
