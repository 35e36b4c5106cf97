package jsonscan

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func TestInterner(t *testing.T) {
	var in Interner
	a := in.String([]byte("u-78934"))
	b := in.String([]byte("u-78934"))
	if a != "u-78934" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("same bytes gave %q and %q, not one string", a, b)
	}
	if allocs := testing.AllocsPerRun(100, func() { in.String([]byte("u-78934")) }); allocs != 0 {
		t.Errorf("an interned value allocates %v times", allocs)
	}
	long := []byte(strings.Repeat("x", maxInternLen+1))
	if s := in.String(long); s != string(long) || len(in.m) != 1 {
		t.Errorf("a value over %d bytes was kept (%d held)", maxInternLen, len(in.m))
	}
	// Full: it starts over, and every value still comes back right.
	for i := range 3 * maxInterned {
		v := fmt.Sprintf("v%d", i)
		if got := in.String([]byte(v)); got != v {
			t.Fatalf("got %q for %q", got, v)
		}
		if len(in.m) > maxInterned {
			t.Fatalf("holds %d values, more than %d", len(in.m), maxInterned)
		}
	}
}

// UnquoteIn returns what Unquote does for every kind of string: escapes,
// invalid UTF-8 (replaced, as encoding/json does), empty, not a string.
func TestUnquoteIn_SameAsUnquote(t *testing.T) {
	var in Interner
	for _, raw := range []string{`"plain"`, `"plain"`, `""`, `"a\"b"`, `"\u00e9t\u00e9"`, "\"bad \xff utf8\"", `"é"`, `42`, `"`, `x"`} {
		want, werr := Unquote([]byte(raw))
		got, gerr := UnquoteIn([]byte(raw), &in)
		if got != want || (werr == nil) != (gerr == nil) {
			t.Errorf("%q: UnquoteIn gave %q, %v; Unquote %q, %v", raw, got, gerr, want, werr)
		}
	}
}
