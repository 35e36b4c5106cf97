package chain

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

func testKey(t testing.TB) Key {
	t.Helper()
	k, err := NewKey("", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sampleRecords() []*record.Record {
	ts := time.Date(2026, 11, 26, 10, 0, 0, 123000000, time.UTC)
	return []*record.Record{
		{TS: ts, IngestedAt: ts, Action: record.ActionChainStart},
		{TS: ts, IngestedAt: ts.Add(time.Millisecond), Action: record.ActionToolCall, User: "u-17", Tenant: "acme",
			Session: "s-9", Model: "granite-3.3-8b", Tool: "payments.refund",
			Arguments: json.RawMessage(`{"email":"[REDACTED:EMAIL]","card":"[REDACTED:CARD]","amount":249}`),
			Manifest: &record.Manifest{Policy: "rp1-0123456789abcdef", Rules: []record.RuleHits{
				{Rule: "builtin:CARD", Type: "CARD", Count: 1, Paths: []string{"arguments.card"}},
				{Rule: "builtin:EMAIL", Type: "EMAIL", Count: 1, Paths: []string{"arguments.email"}},
			}},
			Source: &record.Source{File: "/var/log/agent/events.jsonl", Dev: 2049, Ino: 131, Offset: 0}},
		{TS: ts.Add(time.Second), IngestedAt: ts.Add(time.Second), Action: record.ActionToolResult, Tool: "payments.refund",
			Outcome: "success", Detail: json.RawMessage(`{"note":"quote \" backslash \\ tab \t ünïcode <&>"}`)},
	}
}

func sealAll(t testing.TB, key Key) []record.Sealed {
	s := NewSealer("demo-agent", key, Head{})
	var out []record.Sealed
	for _, r := range sampleRecords() {
		out = append(out, s.Seal(r))
	}
	return out
}

type vector struct {
	Comment string `json:"comment"`
	KeyHex  string `json:"key_hex"`
	Records []struct {
		Payload string `json:"payload"`
		MAC     string `json:"mac"`
	} `json:"records"`
}

// TestVectors checks the published test vectors with code independent of
// the Sealer: plain crypto/hmac over prev || payload.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		key := []byte("0123456789abcdef0123456789abcdef")
		v := vector{Comment: "mac_i = HMAC-SHA256(key, mac_{i-1} || payload_i), mac_0 = 32 zero bytes; see docs/chain-format.md", KeyHex: hex.EncodeToString(key)}
		for _, s := range sealAll(t, testKey(t)) {
			v.Records = append(v.Records, struct {
				Payload string `json:"payload"`
				MAC     string `json:"mac"`
			}{string(s.Payload), hex.EncodeToString(s.MAC[:])})
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(v.KeyHex)
	prev := make([]byte, 32)
	for i, r := range v.Records {
		m := hmac.New(sha256.New, key)
		m.Write(prev)
		m.Write([]byte(r.Payload))
		got := m.Sum(nil)
		if hex.EncodeToString(got) != r.MAC {
			t.Fatalf("record %d: mac %x, vector says %s", i+1, got, r.MAC)
		}
		prev = got
	}
	// The Sealer must still produce the vectors byte for byte.
	for i, s := range sealAll(t, testKey(t)) {
		if string(s.Payload) != v.Records[i].Payload {
			t.Errorf("record %d: sealer payload\n%s\nvector\n%s", i+1, s.Payload, v.Records[i].Payload)
		}
	}
}

func TestKey_NeverPrintsSecret(t *testing.T) {
	k := testKey(t)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, "0123456789abcdef") {
			t.Fatalf("key secret printed: %s", s)
		}
	}
	if _, err := NewKey("", make([]byte, 31)); err == nil {
		t.Fatal("31-byte key accepted")
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "k")
	os.WriteFile(good, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	short := filepath.Join(dir, "s")
	os.WriteFile(short, []byte("secret-but-short\n"), 0o600)
	k, err := LoadKeyFile(good, "")
	if err != nil || k.ID != testKey(t).ID {
		t.Fatalf("LoadKeyFile: %v %v", k, err)
	}
	_, err = LoadKeyFile(short, "")
	if err == nil || strings.Contains(err.Error(), "secret-but-short") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing"), ""); err == nil {
		t.Fatal("missing file accepted")
	}
}

type entry struct {
	seq          uint64
	payload, mac []byte
}

func entries(ss []record.Sealed) []entry {
	var out []entry
	for _, s := range ss {
		out = append(out, entry{s.Seq, append([]byte(nil), s.Payload...), append([]byte(nil), s.MAC[:]...)})
	}
	return out
}

func TestVerifier(t *testing.T) {
	key := testKey(t)
	seal := func() []entry {
		s := NewSealer("demo-agent", key, Head{})
		var out []record.Sealed
		for i := 0; i < 6; i++ {
			r := &record.Record{Action: record.ActionDecision, TS: time.Unix(int64(i), 0)}
			if i == 0 {
				r.Action = record.ActionChainStart
			}
			out = append(out, s.Seal(r))
		}
		return entries(out)
	}
	cases := []struct {
		name    string
		tamper  func([]entry) []entry
		want    []string // substrings of reasons, in order
		unverif bool
	}{
		{"intact", func(e []entry) []entry { return e }, nil, false},
		{"payload byte changed", func(e []entry) []entry {
			e[2].payload = []byte(strings.Replace(string(e[2].payload), "decision", "decisioN", 1))
			return e
		}, []string{"mac mismatch"}, false},
		{"row deleted", func(e []entry) []entry { return append(e[:3], e[4:]...) }, []string{"records missing"}, false},
		{"payloads swapped", func(e []entry) []entry {
			e[2].payload, e[3].payload = e[3].payload, e[2].payload
			return e
		}, []string{"payload names seq 4", "mac mismatch", "payload names seq 3"}, false},
		{"first record missing", func(e []entry) []entry { return e[1:] }, []string{"records missing"}, false},
		{"unknown key", func(e []entry) []entry { return e }, []string{"no key for kid"}, true},
		{"record replayed from another chain", func(e []entry) []entry {
			// Same key, same seq, valid MAC in its own chain.
			other := NewSealer("other-agent", key, Head{})
			var o []record.Sealed
			for i := 0; i < 4; i++ {
				o = append(o, other.Seal(&record.Record{Action: record.ActionDecision, TS: time.Unix(int64(i), 0)}))
			}
			e[3] = entries(o)[3]
			return e
		}, []string{"payload names chain \"other-agent\"", "prev does not match"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys := Keyring{}
			if !tc.unverif {
				keys.Add(key)
			}
			var got []string
			v := NewVerifier("demo-agent", keys, func(e *VerifyError) { got = append(got, e.Reason) })
			for _, e := range tc.tamper(seal()) {
				v.Add(e.seq, e.payload, e.mac)
			}
			sum := v.Finish()
			if len(tc.want) == 0 && len(got) > 0 {
				t.Fatalf("intact chain reported %v", got)
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("want a problem %q, got %v", w, got)
				}
			}
			if tc.unverif && (sum.Unverifiable == 0 || sum.Invalid != 0) {
				t.Errorf("summary %+v, want unverifiable only", sum)
			}
		})
	}
}

func BenchmarkSeal(b *testing.B) {
	key := testKey(b)
	s := NewSealer("bench", key, Head{})
	r := sampleRecords()[1]
	b.ReportAllocs()
	for b.Loop() {
		s.Seal(r)
	}
}

// A chain whose oldest records were removed by retention verifies only if
// an authentic retention_purge record accounts for exactly what is gone.
func TestVerifier_RetentionPurge(t *testing.T) {
	key := testKey(t)
	// seq 1 chain_start, 2..6 decisions, 7 retention_purge through
	// `through` with the MAC of that record, 8..9 decisions.
	cutoff := "2027-01-01T11:00:00Z" // the purge is at 12:00, with max_age 1h
	build := func(through uint64, macOf func([]record.Sealed) string) []entry {
		s := NewSealer("demo-agent", key, Head{})
		var out []record.Sealed
		for i := 1; i <= 9; i++ {
			r := &record.Record{Action: record.ActionDecision, TS: time.Unix(int64(i), 0)}
			switch i {
			case 1:
				r.Action = record.ActionChainStart
			case 7:
				r.Action = record.ActionRetentionPurge
				r.IngestedAt = time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
				r.Detail = []byte(fmt.Sprintf(`{"cutoff":"%s","policy":{"max_age":"1h"},"through_seq":%d,"through_mac":"%s"}`, cutoff, through, macOf(out)))
			}
			out = append(out, s.Seal(r))
		}
		return entries(out)
	}
	macAt := func(seq int) func([]record.Sealed) string {
		return func(out []record.Sealed) string { return hex.EncodeToString(out[seq-1].MAC[:]) }
	}
	cases := []struct {
		name string
		e    []entry
		want string // "" = valid
	}{
		{"nothing purged yet", build(4, macAt(4)), ""},
		{"prefix purged as attested", build(4, macAt(4))[4:], ""},
		{"partition-level purge leaves part of the range", build(4, macAt(4))[2:], ""},
		{"more deleted than purged", build(4, macAt(4))[5:], "no retention_purge record covers them"},
		{"prefix deleted without a purge record", build(4, macAt(4))[4:6], "no retention_purge record covers them"},
		{"boundary mac does not match", build(4, macAt(3))[4:], "does not link to the purge boundary"},
		{"purge covering itself", build(8, macAt(4)), "covers itself"},
		{"a middle record deleted after a purge", append(build(4, macAt(4))[4:6], build(4, macAt(4))[7:]...), "records missing"},
	}
	cutoff = "2027-01-01T11:00:01Z"
	cases = append(cases, struct {
		name string
		e    []entry
		want string
	}{"purge of records younger than the policy", build(4, macAt(4))[4:], "younger than its policy"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys := Keyring{}
			keys.Add(key)
			var got []string
			v := NewVerifier("demo-agent", keys, func(e *VerifyError) { got = append(got, e.Reason) })
			for _, e := range tc.e {
				v.Add(e.seq, e.payload, e.mac)
			}
			sum := v.Finish()
			if tc.want == "" {
				if len(got) > 0 || sum.Invalid != 0 {
					t.Fatalf("problems %v", got)
				}
				return
			}
			if !strings.Contains(strings.Join(got, "; "), tc.want) {
				t.Errorf("problems %v, want %q", got, tc.want)
			}
		})
	}
}

// A key rotation is a key_rotation record sealed with the old key and
// naming the new kid; any other change of kid between two records is a
// problem, and a period whose key is missing is unverifiable.
func TestVerifier_KeyRotation(t *testing.T) {
	oldKey := testKey(t)
	newKey, err := NewKey("", []byte("fedcba9876543210fedcba9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	build := func(rotation bool) []entry {
		s := NewSealer("demo-agent", oldKey, Head{})
		var out []record.Sealed
		for i := 1; i <= 3; i++ {
			r := &record.Record{Action: record.ActionDecision, TS: time.Unix(int64(i), 0)}
			if i == 1 {
				r.Action = record.ActionChainStart
			}
			out = append(out, s.Seal(r))
		}
		if rotation {
			out = append(out, s.Seal(&record.Record{Action: record.ActionKeyRotation, TS: time.Unix(4, 0),
				Detail: []byte(fmt.Sprintf(`{"new_kid":%q,"old_kid":%q}`, newKey.ID, oldKey.ID))}))
		}
		s = NewSealer("demo-agent", newKey, s.Head())
		for i := 5; i <= 6; i++ {
			out = append(out, s.Seal(&record.Record{Action: record.ActionDecision, TS: time.Unix(int64(i), 0)}))
		}
		return entries(out)
	}
	for _, tc := range []struct {
		name     string
		rotation bool
		keys     []Key
		want     string // "" = valid
		unverif  bool
	}{
		{"rotation with both keys", true, []Key{oldKey, newKey}, "", false},
		{"kid changes without a rotation record", false, []Key{oldKey, newKey}, "without a key_rotation record", false},
		{"old period's key missing", true, []Key{newKey}, "no key for kid", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := Keyring{}
			for _, k := range tc.keys {
				keys.Add(k)
			}
			var got []string
			v := NewVerifier("demo-agent", keys, func(e *VerifyError) { got = append(got, e.Reason) })
			for _, e := range build(tc.rotation) {
				v.Add(e.seq, e.payload, e.mac)
			}
			sum := v.Finish()
			if tc.want == "" {
				if len(got) > 0 {
					t.Fatalf("problems %v", got)
				}
				return
			}
			if !strings.Contains(strings.Join(got, "; "), tc.want) {
				t.Errorf("problems %v, want %q", got, tc.want)
			}
			if tc.unverif && (sum.Unverifiable == 0 || sum.Invalid != 0) {
				t.Errorf("summary %+v, want unverifiable only", sum)
			}
		})
	}
}

// Epochs: records sealed across ratchets verify with the epoch-1 key
// alone; a missing seal, an epoch going back or a record sealed with a
// later epoch's key do not.
func TestVerifier_Epochs(t *testing.T) {
	key := testKey(t)
	seal := func(mutate func(i int, s *Sealer, r *record.Record) bool) []entry {
		s := NewSealer("demo-agent", key.AtEpoch(1), Head{})
		s.SetEpoch(1)
		var out []record.Sealed
		for i := 0; i < 12; i++ {
			r := &record.Record{Action: record.ActionDecision, TS: time.Unix(int64(i), 0)}
			if i == 0 {
				r.Action = record.ActionChainStart
			}
			if i%4 == 3 { // every fourth record closes the epoch
				r.Action, r.Detail = record.ActionSeal, []byte(fmt.Sprintf(`{"epoch":%d}`, s.Epoch()))
				if mutate != nil && !mutate(i, s, r) {
					s.Ratchet()
					continue // the seal is dropped
				}
				out = append(out, s.Seal(r))
				s.Ratchet()
				continue
			}
			if mutate != nil {
				mutate(i, s, r)
			}
			out = append(out, s.Seal(r))
		}
		return entries(out)
	}
	run := func(es []entry) []string {
		var got []string
		v := NewVerifier("demo-agent", Keyring{key.ID: key}, func(e *VerifyError) { got = append(got, e.Reason) })
		for _, e := range es {
			v.Add(e.seq, e.payload, e.mac)
		}
		if s := v.Finish(); s.SealedEpoch != 3 && len(got) == 0 {
			t.Errorf("sealed epoch %d, want 3", s.SealedEpoch)
		}
		return got
	}
	if got := run(seal(nil)); len(got) > 0 {
		t.Fatalf("intact epochs: %v", got)
	}
	// The second seal dropped, the chain still gapless (the sealer goes on).
	got := run(seal(func(i int, _ *Sealer, _ *record.Record) bool { return i != 7 }))
	if !strings.Contains(strings.Join(got, ";"), "without a seal of epoch 2") {
		t.Errorf("dropped seal: %v", got)
	}
	// A record of epoch 2 sealed with epoch 3's key, naming epoch 2.
	es := seal(nil)
	later := key.AtEpoch(3)
	r, _ := record.Parse(es[5].payload)
	var prev [32]byte
	copy(prev[:], es[4].mac)
	m := MAC(later, prev, es[5].payload)
	es[5].mac = m[:]
	if got := run(es); !strings.Contains(strings.Join(got, ";"), "mac mismatch") {
		t.Errorf("re-MACed with a later key (epoch %d record): %v", r.Epoch, got)
	}
}

// TestVerify_Version1ThenVersion2: a chain begun before the redaction
// manifest (payload version 1, type counts) and continued by a newer
// sidecar (version 2) verifies as one chain.
func TestVerify_Version1ThenVersion2(t *testing.T) {
	key := testKey(t)
	recs := sampleRecords()
	var payloads [][]byte
	var macs [][32]byte
	head := Head{}
	for i, r := range recs[:2] {
		r.V, r.Chain, r.Seq, r.Kid, r.Prev = 1, "demo-agent", uint64(i+1), key.ID, hex.EncodeToString(head.MAC[:])
		r.Manifest, r.Redactions = nil, map[string]int{"CARD": 1, "EMAIL": 1}
		p := record.AppendCanonical(nil, r)
		m := MAC(key, head.MAC, p)
		payloads, macs = append(payloads, p), append(macs, m)
		head = Head{Seq: r.Seq, MAC: m}
	}
	if !strings.Contains(string(payloads[1]), `"v":1,`) || !strings.Contains(string(payloads[1]), `"redactions":{"CARD":1,"EMAIL":1}`) {
		t.Fatalf("not a version 1 payload: %s", payloads[1])
	}
	s := NewSealer("demo-agent", key, head).Seal(recs[2])
	if !strings.HasPrefix(string(s.Payload), `{"v":2,`) {
		t.Fatalf("sealer wrote %s", s.Payload)
	}
	payloads, macs = append(payloads, s.Payload), append(macs, s.MAC)
	var problems []string
	v := NewVerifier("demo-agent", Keyring{key.ID: key}, func(e *VerifyError) { problems = append(problems, e.Error()) })
	for i := range payloads {
		v.Add(uint64(i+1), payloads[i], macs[i][:])
	}
	if sum := v.Finish(); sum.Invalid != 0 || len(problems) != 0 || sum.Records != 3 {
		t.Errorf("summary %+v, problems %v", sum, problems)
	}
}

// The columns the sealer attaches are exactly what a sink would decode
// from the payload: sinks trust them in place of decoding.
func TestSeal_ColumnsAreThePayloads(t *testing.T) {
	key, err := NewKey("", []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	s := NewSealer("c\"hain", key, Head{})
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	for i, r := range []*record.Record{
		{TS: ts, IngestedAt: ts, Action: record.ActionChainStart},
		{TS: ts, IngestedAt: ts.Add(time.Second), Action: record.ActionToolCall, User: "ü\n\"", Tenant: "t", Agent: "a",
			Session: "s", Trace: "tr", Model: "m", Tool: "x.y", Arguments: []byte(`{"a":"\u0000"}`), Outcome: "success",
			Approver: "ops", Detail: []byte(`{"k":[1,2]}`), Source: &record.Source{File: "/f", Offset: 9}},
		{TS: ts, IngestedAt: ts, Action: record.ActionDecision},
	} {
		sealed := s.Seal(r)
		want, err := record.Index(sealed.Payload)
		if err != nil {
			t.Fatal(err)
		}
		// The sealer also gives prev decoded (Index does not).
		if p, err := hex.DecodeString(want.Prev); err == nil && len(p) == 32 {
			want.PrevMAC, want.HasPrevMAC = [32]byte(p), true
		}
		if sealed.Indexed == nil || *sealed.Indexed != want {
			t.Errorf("record %d: columns %+v, payload's %+v", i, sealed.Indexed, want)
		}
	}
}

// A text key loses its line ending; a binary key is used whole, even when
// its last random byte is a newline (head -c 32 /dev/urandom makes one such
// file in 256, which used to come out 31 bytes long and be refused).
func TestKeyBytes(t *testing.T) {
	bin := append(bytes.Repeat([]byte{0x00, 0xff}, 15), 'x', '\n')
	for _, tc := range []struct{ in, want string }{
		{"0123456789abcdef0123456789abcdef\n", "0123456789abcdef0123456789abcdef"},
		{"0123456789abcdef0123456789abcdef\r\n", "0123456789abcdef0123456789abcdef"},
		{"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"},
		{"0123456789abcdef0123456789abcdef\n\n", "0123456789abcdef0123456789abcdef\n\n"},
		{string(bin), string(bin)},
		{string(bin[:31]) + "\r\n", string(bin[:31]) + "\r\n"},
	} {
		if got := keyBytes([]byte(tc.in)); string(got) != tc.want {
			t.Errorf("keyBytes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	path := filepath.Join(t.TempDir(), "k")
	os.WriteFile(path, bin, 0o600)
	if k, err := LoadKeyFile(path, ""); err != nil || len(k.secret) != 32 {
		t.Fatalf("binary key ending in a newline: %v", err)
	}
}
