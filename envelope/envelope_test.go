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
