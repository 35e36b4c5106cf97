package spool

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/internal/fsutil"
	"github.com/fips-agents/audit-sidecar/record"
)

func sealed(chain string, from, n int) []record.Sealed {
	var out []record.Sealed
	for i := from; i < from+n; i++ {
		r := record.Sealed{Chain: chain, Seq: uint64(i), Payload: []byte(fmt.Sprintf(`{"seq":%d}`, i))}
		r.MAC[0] = byte(i)
		out = append(out, r)
	}
	return out
}

func open(t *testing.T, path string, max int64) *Spool {
	t.Helper()
	s, err := Open(path, Options{MaxBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpool_AppendReadAckTrim(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := open(t, path, 0)
	if err := s.Register([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(sealed("c", 1, 10), []byte("pos-10")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read("a", Range{Max: 4})
	if err != nil || len(got) != 4 || got[0].Seq != 1 || string(got[3].Payload) != `{"seq":4}` || got[3].MAC[0] != 4 {
		t.Fatalf("read: %v %v", got, err)
	}
	if err := s.Ack("a", 10); err != nil {
		t.Fatal(err)
	}
	if p := s.PendingBytes(); p != int64(10*32+9*len(`{"seq":1}`)+len(`{"seq":10}`)) {
		t.Fatalf("pending %d after partial ack: nothing may leave before b has it", p)
	}
	if err := s.Ack("b", 6); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Read("b", Range{Max: 100})
	if len(got) != 4 || got[0].Seq != 7 {
		t.Fatalf("b after ack 6: %v", got)
	}
	s.Close()

	// Everything survives a reopen: head, source position, cursors, records.
	s = open(t, path, 0)
	defer s.Close()
	st := s.State()
	if st.Chain != "c" || st.HeadSeq != 10 || st.HeadMAC[0] != 10 || string(st.Source) != "pos-10" {
		t.Fatalf("state after reopen: %+v", st)
	}
	if err := s.Register([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Read("b", Range{Max: 100})
	if len(got) != 4 || got[0].Seq != 7 {
		t.Fatalf("b after reopen: %v", got)
	}
	if got, _ := s.Read("a", Range{Max: 100}); len(got) != 0 {
		t.Fatalf("a after reopen: %v", got)
	}
	if err := s.Ack("b", 10); err != nil {
		t.Fatal(err)
	}
	if p := s.PendingBytes(); p != 0 {
		t.Fatalf("pending %d after all acked", p)
	}
}

func TestSpool_AppendRejects(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), 0)
	defer s.Close()
	if err := s.Append(sealed("c", 1, 3), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(sealed("c", 5, 1), nil); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("gap: %v", err)
	}
	if err := s.Append(sealed("c", 3, 1), nil); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := s.Append(sealed("other", 4, 1), nil); !errors.Is(err, ErrChainMismatch) {
		t.Fatalf("other chain: %v", err)
	}
	if _, err := s.Read("nobody", Range{Max: 1}); !errors.Is(err, ErrUnknownSink) {
		t.Fatalf("unknown sink: %v", err)
	}
}

func TestSpool_FullAndRegisterChanges(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), 500)
	defer s.Close()
	s.Register([]string{"a"})
	for i := 1; !s.Full(); i += 5 {
		if err := s.Append(sealed("c", i, 5), nil); err != nil {
			t.Fatal(err)
		}
	}
	ch := s.Changed()
	// A sink added later gets what is still held; a removed sink stops
	// holding records.
	if err := s.Register([]string{"b"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Read("b", Range{Max: 1000})
	if len(got) == 0 || got[0].Seq != 1 {
		t.Fatalf("new sink reads %d records from %v", len(got), got)
	}
	if err := s.Ack("b", got[len(got)-1].Seq); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Ack did not signal Changed")
	}
	if s.Full() || s.PendingBytes() != 0 {
		t.Fatalf("still full after delivery: %d", s.PendingBytes())
	}
}

func BenchmarkSpool_Append1000(b *testing.B) { benchSpool(b, false) }

// benchSpool appends batches of 1000 records of 600 bytes, each read by a
// sink and acked when deliver is set.
func benchSpool(b *testing.B, deliver bool) {
	s, err := Open(filepath.Join(b.TempDir(), "spool.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Register([]string{"a"}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 600)
	seq := uint64(0)
	b.SetBytes(1000 * 632)
	for b.Loop() {
		batch := make([]record.Sealed, 1000)
		for i := range batch {
			seq++
			batch[i] = record.Sealed{Chain: "c", Seq: seq, Payload: payload}
		}
		if err := s.Append(batch, []byte("pos")); err != nil {
			b.Fatal(err)
		}
		if !deliver {
			continue
		}
		got, err := s.Read("a", Range{Max: 1000})
		if err != nil || len(got) != 1000 {
			b.Fatal(len(got), err)
		}
		if err := s.Ack("a", got[len(got)-1].Seq); err != nil {
			b.Fatal(err)
		}
	}
}

// A spool that grew during a sink outage and then drained is compacted at
// the next open: the file shrinks, and everything it held survives.
func TestSpool_CompactsASparseFileAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := open(t, path, 0)
	s.Register([]string{"a"})
	pad := make([]byte, 2000)
	for b := 0; b < 20; b++ { // 20 000 records of ~2 KB: ~40 MB
		batch := sealed("c", b*1000+1, 1000)
		for i := range batch {
			batch[i].Payload = append(batch[i].Payload, pad...)
		}
		if err := s.AppendExtra(batch, []byte(fmt.Sprintf("pos-%d", b)), Extra{Marks: []Mark{{Seq: uint64(b*1000 + 1)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Ack("a", 19990); err != nil { // all but the last 10 delivered
		t.Fatal(err)
	}
	before := s.State()
	s.Close()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	grown := size()

	// Below the threshold nothing happens.
	s, err := Open(path, Options{CompactAbove: grown + 1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if size() != grown {
		t.Fatalf("compacted below the threshold: %d -> %d", grown, size())
	}

	s, err = Open(path, Options{CompactAbove: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if after := size(); after*4 > grown {
		t.Errorf("file %d bytes after compaction, was %d", after, grown)
	}
	after := s.State()
	if after.HeadSeq != before.HeadSeq || after.HeadMAC != before.HeadMAC || string(after.Source) != "pos-19" || after.Chain != "c" {
		t.Errorf("state after compaction %+v", after)
	}
	if c, _ := s.Cursor("a"); c != 19990 {
		t.Errorf("cursor %d", c)
	}
	got, err := s.Read("a", Range{Max: 100})
	if err != nil || len(got) != 10 || got[0].Seq != 19991 || len(got[9].Payload) != len(`{"seq":20000}`)+2000 {
		t.Errorf("read after compaction: %d records, %v", len(got), err)
	}
	if m, err := s.Marks(); err != nil || len(m) != 20 {
		t.Errorf("marks after compaction: %d, %v", len(m), err)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

// A damaged file is reported as ErrCorrupt (never a panic later), can be
// moved aside, and a fresh spool can be seeded to continue the chain.
func TestSpool_CorruptFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte)
	}{
		{"both meta pages", func(b []byte) { clear(b[:2*4096]) }},
		{"a data page", func(b []byte) {
			for i := 4 * 4096; i < len(b) && i < 6*4096; i++ {
				b[i] = 0xA5
			}
		}},
		{"truncated", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spool.db")
			s := open(t, path, 0)
			s.Register([]string{"a"})
			for b := 0; b < 5; b++ {
				if err := s.Append(sealed("c", b*200+1, 200), []byte("pos")); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.damage == nil {
				raw = raw[:len(raw)/3]
			} else {
				tc.damage(raw)
			}
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := checkInChild(t, path); err == nil {
				t.Fatal("CheckFile passed a damaged file")
			}
			aside, err := MoveAside(path, time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC))
			if err != nil || filepath.Base(aside) != "spool.db.corrupt-20261127T030000Z" {
				t.Fatalf("MoveAside: %q, %v", aside, err)
			}
			s, err = Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var mac [32]byte
			mac[0] = 7
			if err := s.Seed(State{Chain: "c", HeadSeq: 800, HeadMAC: mac, HeadKid: "hk-old", Source: []byte("pos-800")}); err != nil {
				t.Fatal(err)
			}
			if err := s.Seed(State{Chain: "c", HeadSeq: 1, HeadMAC: mac}); err == nil {
				t.Error("a second Seed succeeded")
			}
			if err := s.Append(sealed("c", 801, 3), nil); err != nil {
				t.Fatalf("append after seed: %v", err)
			}
			if st := s.State(); st.HeadSeq != 803 || st.Chain != "c" || string(st.Source) != "pos-800" || st.HeadKid != "hk-old" {
				t.Errorf("state %+v", st)
			}
		})
	}
}

// checkInChild runs CheckFile(path) in a child process (this test binary
// re-executed), as the sidecar does: bbolt may panic on damage in a
// goroutine of its own. It returns nil when the child finds the file sound.
func checkInChild(t *testing.T, path string) error {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCheckFileChild$")
	cmd.Env = append(os.Environ(), "SPOOL_CHECK_FILE="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("child check: %v (%d bytes of output)", err, len(out))
	}
	return err
}

// TestCheckFileChild is the child of checkInChild; it does nothing in a
// normal run.
func TestCheckFileChild(t *testing.T) {
	path := os.Getenv("SPOOL_CHECK_FILE")
	if path == "" {
		return
	}
	if err := CheckFile(path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func TestCheckFile_SoundAndMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	if err := CheckFile(path); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	s := open(t, path, 0)
	s.Append(sealed("c", 1, 100), []byte("pos"))
	s.Close()
	if err := CheckFile(path); err != nil {
		t.Fatalf("sound file: %v", err)
	}
	if err := checkInChild(t, path); err != nil {
		t.Fatalf("sound file in a child: %v", err)
	}
}

func TestSpool_Read_MaxBytes(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), 0)
	defer s.Close()
	s.Register([]string{"a"})
	batch := sealed("c", 1, 10)
	for i := range batch {
		batch[i].Payload = make([]byte, 1000)
	}
	if err := s.Append(batch, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ max, bytes, want int }{{100, 0, 10}, {4, 0, 4}, {100, 2500, 3}, {100, 1, 1}, {2, 10000, 2}} {
		got, err := s.Read("a", Range{Max: tc.max, MaxBytes: tc.bytes})
		if err != nil || len(got) != tc.want {
			t.Errorf("Read(Max %d, MaxBytes %d) = %d records, %v; want %d", tc.max, tc.bytes, len(got), err, tc.want)
		}
	}
}

// Read with After reads past records not yet acknowledged (a deliverer with
// batches in flight), never before the cursor, from memory and from the
// file alike.
func TestSpool_Read_After(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := open(t, path, 0)
	s.Register([]string{"a"})
	if err := s.Append(sealed("c", 1, 10), nil); err != nil {
		t.Fatal(err)
	}
	firstSeq := func(recs []record.Sealed, err error) uint64 {
		t.Helper()
		if err != nil || len(recs) == 0 {
			t.Fatalf("read: %d records, %v", len(recs), err)
		}
		return recs[0].Seq
	}
	if got := firstSeq(s.Read("a", Range{After: 4, Max: 3})); got != 5 {
		t.Errorf("after 4 read from %d", got)
	}
	if err := s.Ack("a", 6); err != nil {
		t.Fatal(err)
	}
	if got := firstSeq(s.Read("a", Range{After: 2, Max: 3})); got != 7 {
		t.Errorf("after 2 with the cursor at 6 read from %d", got)
	}
	if recs, err := s.Read("a", Range{After: 10, Max: 3}); err != nil || len(recs) != 0 {
		t.Errorf("after the head: %d records, %v", len(recs), err)
	}
	s.Close()
	s = open(t, path, 0) // nothing in memory now
	defer s.Close()
	if got := firstSeq(s.Read("a", Range{After: 8, Max: 3})); got != 9 {
		t.Errorf("from the file, after 8 read from %d", got)
	}
	if _, err := s.Read("b", Range{Max: 1}); !errors.Is(err, ErrUnknownSink) {
		t.Errorf("unknown sink: %v", err)
	}
}

// BenchmarkSpool_Cycle1000 is the spool's share of steady delivery: a
// batch of 1000 records appended, read by the sink and acked (removed).
func BenchmarkSpool_Cycle1000(b *testing.B) { benchSpool(b, true) }

// Reads served from the records kept in memory return exactly what the
// file holds, in order, whether a read starts inside the kept records,
// before them (a slow sink, or more appended than is kept), or after an
// ack trimmed some; and a failed append keeps nothing.
func TestSpool_RecentReadsMatchTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := open(t, path, 0)
	if err := s.Register([]string{"fast", "slow"}); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", recentMax/1000-64) // 1 000 records fit in recent
	next := 1
	appendN := func(n int) {
		batch := sealed("c", next, n)
		for i := range batch {
			batch[i].Payload = append(batch[i].Payload, pad...)
			batch[i].Indexed = &record.Indexed{Chain: "c", Seq: batch[i].Seq}
		}
		if err := s.Append(batch, nil); err != nil {
			t.Fatal(err)
		}
		next += n
	}
	check := func(got []record.Sealed, from uint64, fromMemory bool) {
		t.Helper()
		for i, r := range got {
			if r.Seq != from+uint64(i) || r.Chain != "c" || r.MAC[0] != byte(r.Seq) ||
				!strings.HasPrefix(string(r.Payload), fmt.Sprintf(`{"seq":%d}`, r.Seq)) || len(r.Payload) < len(pad) {
				t.Fatalf("record %d: seq %d chain %q", i, r.Seq, r.Chain)
			}
			if (r.Indexed != nil) != fromMemory {
				t.Fatalf("seq %d: columns %v, want from memory %v", r.Seq, r.Indexed, fromMemory)
			}
		}
	}
	appendN(1000) // all kept
	got, err := s.Read("fast", Range{Max: 300})
	if err != nil || len(got) != 300 {
		t.Fatal(len(got), err)
	}
	check(got, 1, true)
	if err := s.Ack("fast", 300); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Read("fast", Range{Max: 1000})
	check(got, 301, true)
	if len(got) != 700 {
		t.Fatalf("read %d", len(got))
	}
	appendN(5000) // five times recent's bound more: the oldest are no longer kept
	got, _ = s.Read("slow", Range{Max: 2000})
	check(got, 1, false)
	if err := s.Ack("fast", 6000); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack("slow", 1000); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Read("slow", Range{Max: 10000, MaxBytes: 10 * len(pad)})
	check(got, 1001, false)
	if len(got) != 10 {
		t.Fatalf("bounded read %d", len(got))
	}
	if err := s.Ack("slow", 5000); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Read("slow", Range{Max: 10000, MaxBytes: 10 * len(pad)})
	check(got, 5001, true)
	if len(got) != 10 {
		t.Fatalf("bounded read %d", len(got))
	}
	if err := s.Append(sealed("c", next+1, 1), nil); err == nil {
		t.Fatal("a gap was appended")
	}
	appendN(1)
	if err := s.Ack("slow", 6000); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Read("slow", Range{Max: 10})
	check(got, 6001, true)
	if len(got) != 1 {
		t.Fatalf("read %d after the failed append", len(got))
	}
	s.Close()
	s = open(t, path, 0)
	defer s.Close()
	got, _ = s.Read("slow", Range{Max: 10})
	check(got, 6001, false)
}

// A folder that cannot be synced after a rename fails MoveAside and the
// compaction at Open: the rename may not survive a crash, and the caller
// must hear of it.
func TestSpool_FolderSyncFailure(t *testing.T) {
	injected := errors.New("injected folder sync failure")
	syncDir = func(string) error { return injected }
	t.Cleanup(func() { syncDir = fsutil.SyncDir })

	path := filepath.Join(t.TempDir(), "spool.db")
	s := open(t, path, 0)
	if err := s.Register([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 4; b++ {
		batch := sealed("c", b*500+1, 500)
		for i := range batch {
			batch[i].Payload = append(batch[i].Payload, make([]byte, 2000)...)
		}
		if err := s.Append(batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Ack("a", 2000); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(path, Options{CompactAbove: 1}); !errors.Is(err, injected) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open compacting a sparse file whose folder cannot be synced: %v, want the sync error", err)
	}

	to, err := MoveAside(path, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	if !errors.Is(err, injected) {
		t.Fatalf("MoveAside with a folder that cannot be synced: %v, want the sync error", err)
	}
	if _, err := os.Stat(to); err != nil {
		t.Fatalf("MoveAside's error names %q, which is not there: %v", to, err)
	}
}

// A Register whose transaction fails (here: a sink name longer than bbolt
// takes as a key) leaves the spool as it was, in memory too: the sink it
// would have removed still has its cursor and its records, the sink it
// would have added is unknown, and nothing was trimmed.
func TestSpool_Register_FailedTransactionChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := open(t, path, 0)
	defer func() { s.Close() }()
	if err := s.Register([]string{"old", "kept"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(sealed("c", 1, 10), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack("kept", 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack("old", 4); err != nil {
		t.Fatal(err)
	}
	pending, delivered := s.PendingBytes(), s.Delivered()

	tooLong := strings.Repeat("x", 1<<16)
	if err := s.Register([]string{"kept", "new", tooLong}); err == nil {
		t.Fatal("Register with a sink name bbolt cannot store succeeded")
	}
	if c, ok := s.Cursor("old"); !ok || c != 4 {
		t.Errorf("cursor of the sink the failed Register removed: %d, %v; want 4, true", c, ok)
	}
	if _, ok := s.Cursor("new"); ok {
		t.Error("the sink the failed Register added has a cursor")
	}
	if _, err := s.Read("new", Range{Max: 1}); !errors.Is(err, ErrUnknownSink) {
		t.Errorf("Read for the sink the failed Register added: %v, want ErrUnknownSink", err)
	}
	if p, d := s.PendingBytes(), s.Delivered(); p != pending || d != delivered {
		t.Errorf("pending bytes %d, delivered %d after the failed Register; want %d, %d", p, d, pending, delivered)
	}
	if got, err := s.Read("old", Range{Max: 100}); err != nil || len(got) != 6 || got[0].Seq != 5 {
		t.Errorf("old's records after the failed Register: %d, %v; want seqs 5-10", len(got), err)
	}

	// What memory says is what the file says.
	s.Close()
	s = open(t, path, 0)
	if c, ok := s.Cursor("old"); !ok || c != 4 {
		t.Errorf("after reopening: cursor of old %d, %v", c, ok)
	}
	if _, ok := s.Cursor("new"); ok {
		t.Error("after reopening: new has a cursor")
	}
}
