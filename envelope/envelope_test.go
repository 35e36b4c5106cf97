package envelope

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// criLines splits text the way the kubelet does: pieces of at most size
// bytes, all but the last tagged P.
func criLines(stream, text string, size int) []string {
	var out []string
	for {
		tag := "F"
		piece := text
		if len(text) > size {
			tag, piece = "P", text[:size]
		}
		out = append(out, fmt.Sprintf("2026-11-27T10:00:00.123456789Z %s %s %s", stream, tag, piece))
		if tag == "F" {
			return out
		}
		text = text[size:]
	}
}

// dockerLines splits text as docker's json-file driver does.
func dockerLines(stream, text string, size int) []string {
	var out []string
	text += "\n"
	for len(text) > 0 {
		n := min(size, len(text))
		b, _ := json.Marshal(map[string]string{"log": text[:n], "stream": stream, "time": "2026-11-27T10:00:00.5Z"})
		out = append(out, string(b))
		text = text[n:]
	}
	return out
}

func feedAll(d *Decoder, lines []string) []Message {
	var out []Message
	for i, l := range lines {
		if m, ok := d.Feed([]byte(l), i, false); ok {
			out = append(out, m)
		}
	}
	return out
}

func bigEvent(n int) string {
	return `{"action":"tool_result","tool":"search","detail":{"body":"` + strings.Repeat("x", n) + `"}}`
}

func TestJoinsFragmentsAt16KiB(t *testing.T) {
	ev := bigEvent(40 << 10)
	for _, tc := range []struct {
		name  string
		kind  Kind
		lines []string
	}{
		{"cri", CRI, criLines("stdout", ev, 16<<10)},
		{"cri auto", Auto, criLines("stdout", ev, 16<<10)},
		{"docker", Docker, dockerLines("stdout", ev, 16<<10)},
		{"docker auto", Auto, dockerLines("stdout", ev, 16<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.lines) != 3 {
				t.Fatalf("fixture has %d lines, want 3 fragments", len(tc.lines))
			}
			d := NewDecoder(tc.kind, 1<<20)
			got := feedAll(d, tc.lines)
			if len(got) != 1 || string(got[0].Text) != ev || got[0].First != 0 || got[0].Stream != "stdout" || got[0].Truncated {
				t.Fatalf("got %d messages; first: %d bytes, stream %q, first line %v, truncated %v",
					len(got), len(got[0].Text), got[0].Stream, got[0].First, got[0].Truncated)
			}
			if d.Pending() {
				t.Error("decoder still pending")
			}
		})
	}
}

func TestInterleavedStreams(t *testing.T) {
	out := criLines("stdout", bigEvent(100), 40)
	errLine := criLines("stderr", "warning: something", 1000)[0]
	lines := append([]string{out[0], errLine}, out[1:]...)
	d := NewDecoder(CRI, 1<<20)
	var got []string
	for i, l := range lines {
		m, ok := d.Feed([]byte(l), i, false)
		if ok {
			got = append(got, fmt.Sprintf("%s@%v", m.Stream, m.First))
		}
		if i == 1 && !d.Pending() {
			t.Error("stdout message not pending after stderr completed")
		}
	}
	if want := []string{"stderr@1", "stdout@0"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestTruncatesLongMessagesWithLengthAndHash(t *testing.T) {
	ev := bigEvent(50 << 10)
	d := NewDecoder(CRI, 20<<10)
	got := feedAll(d, criLines("stdout", ev, 16<<10))
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	m := got[0]
	if !m.Truncated || len(m.Text) != 20<<10 || m.FullLen != int64(len(ev)) || m.FullSHA256 != sha256.Sum256([]byte(ev)) || string(m.Text) != ev[:20<<10] {
		t.Errorf("truncated %v, %d bytes kept, full %d, hash ok %v", m.Truncated, len(m.Text), m.FullLen, m.FullSHA256 == sha256.Sum256([]byte(ev)))
	}
}

func TestPassesThroughWhatItCannotParse(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		line string
	}{
		{CRI, `{"action":"decision"}`},
		{CRI, `2026-11-27T10:00:00Z stdout X text`},
		{CRI, `yesterday stdout F text`},
		{Docker, `{"log":1}`},
		{Docker, `not json`},
		{Auto, `{"action":"decision"}`},
	} {
		d := NewDecoder(tc.kind, 1<<20)
		m, ok := d.Feed([]byte(tc.line), 7, false)
		if !ok || string(m.Text) != tc.line || m.Stream != "" || m.First != 7 {
			t.Errorf("kind %d line %q: got %q (ok %v)", tc.kind, tc.line, m.Text, ok)
		}
	}
}

func TestEmptyAndTaggedCRILines(t *testing.T) {
	d := NewDecoder(CRI, 1<<20)
	m, ok := d.Feed([]byte(`2026-11-27T10:00:00Z stdout F`), 0, false)
	if !ok || len(m.Text) != 0 || m.Stream != "stdout" {
		t.Errorf("empty line: %q %v", m.Text, ok)
	}
	m, ok = d.Feed([]byte(`2026-11-27T10:00:00Z stderr F:x {"a":1}`), 0, false)
	if !ok || string(m.Text) != `{"a":1}` {
		t.Errorf("tagged line: %q %v", m.Text, ok)
	}
}

func TestFlushReturnsIncompleteMessages(t *testing.T) {
	d := NewDecoder(CRI, 1<<20)
	lines := criLines("stdout", bigEvent(100), 40)
	for _, l := range lines[:2] {
		if _, ok := d.Feed([]byte(l), 0, false); ok {
			t.Fatal("fragment completed a message")
		}
	}
	got := d.Flush()
	if len(got) != 1 || len(got[0].Text) != 80 || d.Pending() {
		t.Errorf("flush: %d messages, pending %v", len(got), d.Pending())
	}
}

func TestParseKind(t *testing.T) {
	for s, want := range map[string]Kind{"": None, "none": None, "cri": CRI, "docker": Docker, "auto": Auto} {
		if k, err := ParseKind(s); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %v, %v", s, k, err)
		}
	}
	if _, err := ParseKind("journald"); err == nil {
		t.Error("ParseKind accepted journald")
	}
}

// TestSubstitutes: what decoding would replace with U+FFFD is found
// (invalid bytes, an unpaired surrogate escape, also inside an escaped
// string); what it would not replace is not.
func TestSubstitutes(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{`{"a":"plain"}`, false},
		{"{\"a\":\"\uFFFD written by the agent\"}", false},
		{`{"a":"\u00e9 \u20ac"}`, false},
		{`{"a":"\ud83d\ude00"}`, false}, // an escaped pair: one character
		{`{"a":"\uD83D\uDE00"}`, false},
		{`{"a":"\ud800"}`, true},
		{`{"a":"\uDBFFx"}`, true},
		{`{"a":"\udc00"}`, true},                  // a low half alone
		{`{"a":"\ud800\ud800"}`, true},            // two high halves
		{`{"a":"\ude00\ud83d"}`, true},            // reversed
		{`{"log":"{\"a\":\"\\ud800\"}\n"}`, true}, // inside an escaped string
		{`{"a":"\ud8`, false},                     // cut short: not an escape
		{"{\"a\":\"\xff\"}", true},
		{"{\"a\":\"\xc3\x28\"}", true},
		{"{\"a\":\"\xed\xa0\x80\"}", true}, // a surrogate encoded in UTF-8
		{"{\"a\":\"\xc0\xaf\"}", true},     // overlong
	} {
		if got := Substitutes([]byte(tc.line)); got != tc.want {
			t.Errorf("Substitutes(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

// TestRawDigestOfSubstitutedMessages: a message whose lines decoding
// replaces with U+FFFD carries the SHA-256 of those lines as they are in
// the file (joined by "\n"), whichever fragment held the bytes; a clean
// message carries none.
func TestRawDigestOfSubstitutedMessages(t *testing.T) {
	sum := func(lines ...string) [32]byte { return sha256.Sum256([]byte(strings.Join(lines, "\n"))) }
	dockerRaw := func(log string) string {
		return `{"log":"` + log + `","stream":"stdout","time":"2026-11-27T10:00:00.5Z"}`
	}
	for _, tc := range []struct {
		name  string
		kind  Kind
		lines []string
		dirty bool
	}{
		{"docker clean", Docker, []string{dockerRaw(`{\"a\":\"x\"}\n`)}, false},
		{"docker invalid byte", Docker, []string{dockerRaw("{\\\"a\\\":\\\"x\xff\\\"}\\n")}, true},
		{"docker escaped surrogate in the log", Docker, []string{dockerRaw(`{\"a\":\"\ud800\"}\n`)}, true},
		{"docker surrogate escaped in the event", Docker, []string{dockerRaw(`{\"a\":\"\\ud800\"}\n`)}, true},
		{"docker fragments, the second dirty", Docker, []string{dockerRaw(`{\"a\":\"x`), dockerRaw("y\xfe\\\"}\\n")}, true},
		{"docker fragments, clean", Docker, []string{dockerRaw(`{\"a\":\"x`), dockerRaw(`y\"}\n`)}, false},
		{"cri fragments, the first dirty", CRI, []string{"2026-11-27T10:00:00.1Z stdout P {\"a\":\"\xff", "2026-11-27T10:00:00.2Z stdout F x\"}"}, true},
		{"cri clean", CRI, []string{`2026-11-27T10:00:00.1Z stdout F {"a":"x"}`}, false},
		{"passed through", Docker, []string{"not an envelope \xff"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := feedAll(NewDecoder(tc.kind, 1<<20), tc.lines)
			if len(ms) != 1 {
				t.Fatalf("%d messages, want 1", len(ms))
			}
			m := ms[0]
			if m.Substitutes != tc.dirty {
				t.Fatalf("Substitutes %v, want %v", m.Substitutes, tc.dirty)
			}
			if tc.dirty && m.RawSHA256 != sum(tc.lines...) {
				t.Errorf("RawSHA256 is not the digest of the lines joined by \\n")
			}
			if !tc.dirty && m.RawSHA256 != ([32]byte{}) {
				t.Errorf("a clean message carries a digest")
			}
		})
	}
	// A message never completed (the container died mid-line) keeps it.
	d := NewDecoder(Docker, 1<<20)
	lines := []string{dockerRaw("{\\\"a\\\":\\\"\xff"), dockerRaw(`more`)}
	feedAll(d, lines)
	ms := d.Flush()
	if len(ms) != 1 || !ms[0].Substitutes || ms[0].RawSHA256 != sum(lines...) {
		t.Fatalf("flushed %+v", ms)
	}
}
