package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
)

var (
	bucketRecords = []byte("records") // seq (8 bytes BE) -> mac (32) || payload
	bucketMeta    = []byte("meta")
	bucketCursors = []byte("cursors") // sink name -> seq (8 bytes BE)
	bucketMarks   = []byte("marks")   // seq (8 BE) -> unix nanos (8 BE) || prev mac (32)

	keyChain   = []byte("chain")    // chain id
	keyHead    = []byte("head")     // seq (8) || mac (32)
	keyHeadKid = []byte("head_kid") // kid of the key that sealed the head
	keySource  = []byte("source")   // opaque source position
	keyTree    = []byte("tree")     // opaque merkle tree state of the head
	keyEpoch   = []byte("epoch")    // forward-secure epoch of the next record (8)
	keyPending = []byte("pending")  // pending bytes (8)
)

// State is what the spool remembers across restarts.
type State struct {
	Chain   string   // "" for a new spool
	HeadSeq uint64   // seq of the newest record ever appended
	HeadMAC [32]byte // its MAC
	HeadKid string   // the kid of the key that sealed it ("" if not recorded)
	Source  []byte   // opaque source position committed with the newest batch; nil if none
	// Tree is the opaque Merkle tree state committed with the newest batch
	// (chain.Tree's encoding); nil if none was.
	Tree []byte
	// Epoch is the forward-secure epoch of the next record under HeadKid
	// (0: epochs never used). The epoch's key is not in the spool.
	Epoch uint64
}

// Options tunes a spool.
type Options struct {
	MaxBytes int64 // Full reports true at this many pending bytes; 0 means no limit
	// CompactAbove: at Open, a file larger than this with at least half of
	// it free pages is compacted (bbolt never shrinks a file; after a long
	// sink outage the spool would keep its peak size). 0 means 64 MiB; a
	// negative value disables compaction.
	CompactAbove int64
	// ReadOnly opens the file for reading only (CheckFile).
	ReadOnly    bool
	LockTimeout time.Duration // how long Open waits for another process's lock; default 5s
	Logger      *zap.Logger
}

// Spool is a durable queue of sealed records. Its methods are safe for
// concurrent use.
type Spool struct {
	db     *bolt.DB
	opts   Options
	log    *zap.Logger
	mu     sync.Mutex
	notify chan struct{} // closed and replaced on every Append and Ack
	state  State
	first  uint64 // lowest seq still held (0 when empty)
	pend   int64
	sinks  map[string]uint64
	// recent holds the newest appended records, consecutive and still
	// held, up to recentMax payload bytes: sinks that keep up read them
	// (with the sealer's columns) without a read transaction or a copy.
	// The payloads are shared, and nobody changes a sealed payload.
	recent      []record.Sealed
	recentBuf   []record.Sealed // recent's whole buffer (recent is a window of it)
	recentBytes int
	putBuf      []byte // AppendExtra's buffer of keys and values, reused
}

// recentMax bounds the payload bytes kept in Spool.recent.
const recentMax = 16 << 20

// Open opens or creates the spool file at path, creating its folder.
func Open(path string, opts Options) (*Spool, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open spool %q: %w", path, err)
	}
	if opts.CompactAbove == 0 {
		opts.CompactAbove = 64 << 20
	}
	if err := compactIfSparse(path, opts); err != nil {
		return nil, fmt.Errorf("open spool %q: %w", path, err)
	}
	db, err := openChecked(path, opts)
	if err != nil {
		return nil, fmt.Errorf("open spool %q: %w", path, err)
	}
	s := &Spool{db: db, opts: opts, log: opts.Logger, notify: make(chan struct{}), sinks: map[string]uint64{}}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketMeta, bucketCursors} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		s.state.Chain = string(meta.Get(keyChain))
		s.state.HeadKid = string(meta.Get(keyHeadKid))
		if h := meta.Get(keyHead); len(h) == 40 {
			s.state.HeadSeq = binary.BigEndian.Uint64(h)
			copy(s.state.HeadMAC[:], h[8:])
		}
		if src := meta.Get(keySource); src != nil {
			s.state.Source = append([]byte(nil), src...)
		}
		if t := meta.Get(keyTree); t != nil {
			s.state.Tree = append([]byte(nil), t...)
		}
		if e := meta.Get(keyEpoch); len(e) == 8 {
			s.state.Epoch = binary.BigEndian.Uint64(e)
		}
		if p := meta.Get(keyPending); len(p) == 8 {
			s.pend = int64(binary.BigEndian.Uint64(p))
		}
		if k, _ := tx.Bucket(bucketRecords).Cursor().First(); k != nil {
			s.first = binary.BigEndian.Uint64(k)
		}
		return tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
			s.sinks[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %q: %w", path, err)
	}
	return s, nil
}

// openChecked opens the bbolt file at path; a file bbolt finds unsound
// at open (bad meta pages) gives an error wrapping ErrCorrupt. Damage
// deeper in the file is found by CheckFile.
func openChecked(path string, opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, boltOptions(opts))
	if err != nil {
		for _, e := range []error{bolterrors.ErrInvalid, bolterrors.ErrChecksum, bolterrors.ErrVersionMismatch, bolterrors.ErrInvalidMapping} {
			if errors.Is(err, e) {
				return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
		}
		return nil, err
	}
	return db, nil
}

// CheckFile reads every page of the spool file at path (read-only) and
// returns an error wrapping ErrCorrupt at the first problem; nil for a
// missing file. bbolt may panic, in a goroutine of its own, on some
// damage, which no caller can recover: run CheckFile in a child process
// and treat its crash as corruption (the sidecar does, at start).
func CheckFile(path string) error {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil
	}
	db, err := openChecked(path, Options{LockTimeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
		}
		return first
	})
}

// MoveAside renames a (corrupt) spool file out of the way, to
// path.corrupt-<UTC time>, and returns the new name.
func MoveAside(path string, now time.Time) (string, error) {
	to := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return to, nil
}

// Seed sets the chain state of an empty spool (Chain, HeadSeq, HeadMAC,
// HeadKid, Source, Tree of st), so that a chain whose spool was lost
// continues from what a sink holds.
func (s *Spool) Seed(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Chain != "" || s.state.HeadSeq != 0 {
		return fmt.Errorf("seed spool: it already holds chain %q at seq %d", s.state.Chain, s.state.HeadSeq)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyChain, []byte(st.Chain)); err != nil {
			return err
		}
		if err := meta.Put(keyHead, append(be64(st.HeadSeq), st.HeadMAC[:]...)); err != nil {
			return err
		}
		var epoch []byte
		if st.Epoch > 0 {
			epoch = be64(st.Epoch)
		}
		for _, kv := range []struct{ k, v []byte }{{keyHeadKid, []byte(st.HeadKid)}, {keySource, st.Source}, {keyTree, st.Tree}, {keyEpoch, epoch}} {
			if len(kv.v) > 0 {
				if err := meta.Put(kv.k, kv.v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed spool: %w", err)
	}
	s.state = State{Chain: st.Chain, HeadSeq: st.HeadSeq, HeadMAC: st.HeadMAC, HeadKid: st.HeadKid, Epoch: st.Epoch}
	if len(st.Source) > 0 {
		s.state.Source = append([]byte(nil), st.Source...)
	}
	if len(st.Tree) > 0 {
		s.state.Tree = append([]byte(nil), st.Tree...)
	}
	return nil
}

func boltOptions(opts Options) *bolt.Options {
	return &bolt.Options{
		Timeout:        opts.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		ReadOnly:       opts.ReadOnly,
	}
}

// compactIfSparse rewrites the file at path into a fresh one holding only
// its live pages, when it is larger than opts.CompactAbove and at least
// half free. The copy is written beside it and renamed over it, so a crash
// at any point leaves either the old file or the new one, never neither.
func compactIfSparse(path string, opts Options) (err error) {
	defer func() {
		if recover() != nil {
			err = nil // a damaged file: openChecked reports it
		}
	}()
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err // a leftover of a compaction cut short
	}
	fi, err := os.Stat(path)
	if os.IsNotExist(err) || (err == nil && (opts.CompactAbove < 0 || fi.Size() <= opts.CompactAbove)) {
		return nil
	}
	if err != nil {
		return err
	}
	src, err := bolt.Open(path, 0o600, boltOptions(opts))
	if err != nil {
		return nil // openChecked reports why
	}
	defer src.Close()
	st := src.Stats()
	free := int64(st.FreePageN+st.PendingPageN) * int64(src.Info().PageSize)
	if free*2 < fi.Size() {
		return nil
	}
	dst, err := bolt.Open(tmp, 0o600, boltOptions(opts))
	if err != nil {
		return err
	}
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	if err := src.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	after, _ := os.Stat(path)
	if after != nil {
		opts.Logger.Info("spool compacted", zap.Int64("bytes_before", fi.Size()), zap.Int64("bytes_after", after.Size()))
	}
	return nil
}

// State returns what the spool holds now.
func (s *Spool) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Source = append([]byte(nil), st.Source...)
	st.Tree = append([]byte(nil), st.Tree...)
	return st
}

// Register sets the sinks the spool delivers to. A sink seen for the first
// time starts after the records the spool no longer holds (it receives
// everything still held). Cursors of sinks no longer named are removed, so
// that they do not hold records forever; records that only they lacked are
// then trimmed.
func (s *Spool) Register(names []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketCursors)
		for name := range s.sinks {
			if !want[name] {
				s.log.Warn("spool sink cursor removed", zap.String("sink", name), zap.Uint64("cursor", s.sinks[name]))
				if err := cur.Delete([]byte(name)); err != nil {
					return err
				}
				delete(s.sinks, name)
			}
		}
		for _, name := range names {
			if _, ok := s.sinks[name]; ok {
				continue
			}
			start := s.state.HeadSeq
			if s.first != 0 {
				start = s.first - 1
			}
			if start > 0 {
				s.log.Warn("new sink starts after records no longer spooled", zap.String("sink", name), zap.Uint64("from_seq", start+1))
			}
			if err := cur.Put([]byte(name), be64(start)); err != nil {
				return err
			}
			s.sinks[name] = start
		}
		return s.trim(tx)
	})
	if err != nil {
		return fmt.Errorf("register sinks: %w", err)
	}
	return nil
}

// Mark says where a period of the chain begins, for retention: Seq is the
// first record sealed in the period starting at Time, and Prev the MAC of
// the record before it (seq Seq-1), which a retention_purge record through
// Seq-1 names.
type Mark struct {
	Time time.Time
	Seq  uint64
	Prev [32]byte
}

// Extra is what an append may commit besides records and the position.
type Extra struct {
	Marks            []Mark // added
	DropMarksThrough uint64 // marks with Seq <= this are removed (0: none)
	// HeadKid, when set, is recorded as the kid of the key that sealed the
	// batch's last record (a key rotation needs it at the next start).
	HeadKid string
	// Tree, when set, is recorded as the Merkle tree state after the
	// batch's last record.
	Tree []byte
	// Epoch, when not 0, is recorded as the epoch of the next record.
	Epoch uint64
}

// Append stores batch (consecutive seqs continuing the head, one chain)
// and the source position after it, in one transaction. On error nothing
// of the batch is stored and the caller may retry it.
func (s *Spool) Append(batch []record.Sealed, source []byte) error {
	return s.AppendExtra(batch, source, Extra{})
}

// AppendExtra is Append that also commits x in the same transaction.
func (s *Spool) AppendExtra(batch []record.Sealed, source []byte, x Extra) error {
	if st := s.State(); len(batch) == 0 && source == nil && len(x.Marks) == 0 && x.DropMarksThrough == 0 &&
		(x.HeadKid == "" || x.HeadKid == st.HeadKid) && (x.Epoch == 0 || x.Epoch == st.Epoch) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	var added int64
	for i, r := range batch {
		if st.Chain != "" && r.Chain != st.Chain {
			return fmt.Errorf("append seq %d: %w (%q, batch %q)", r.Seq, ErrChainMismatch, st.Chain, r.Chain)
		}
		if r.Seq != st.HeadSeq+uint64(i)+1 {
			return fmt.Errorf("append seq %d after head %d: %w", r.Seq, st.HeadSeq+uint64(i), ErrNotContiguous)
		}
		added += int64(32 + len(r.Payload))
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		recs.FillPercent = 1.0 // keys only ever grow
		// bbolt keeps key and value slices until the commit, and no
		// longer: one buffer, kept for the next batch, holds them all.
		buf := s.putBuf[:0]
		if need := int(added) + 8*len(batch); cap(buf) < need {
			buf = make([]byte, 0, need)
			s.putBuf = buf
		}
		for _, r := range batch {
			k := len(buf)
			buf = binary.BigEndian.AppendUint64(buf, r.Seq)
			buf = append(buf, r.MAC[:]...)
			buf = append(buf, r.Payload...)
			if err := recs.Put(buf[k:k+8:k+8], buf[k+8:len(buf):len(buf)]); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if n := len(batch); n > 0 {
			last := batch[n-1]
			if st.Chain == "" {
				if err := meta.Put(keyChain, []byte(last.Chain)); err != nil {
					return err
				}
			}
			if err := meta.Put(keyHead, append(be64(last.Seq), last.MAC[:]...)); err != nil {
				return err
			}
			if err := meta.Put(keyPending, be64(uint64(s.pend+added))); err != nil {
				return err
			}
		}
		if source != nil {
			if err := meta.Put(keySource, source); err != nil {
				return err
			}
		}
		if x.HeadKid != "" && x.HeadKid != st.HeadKid {
			if err := meta.Put(keyHeadKid, []byte(x.HeadKid)); err != nil {
				return err
			}
		}
		if x.Tree != nil {
			if err := meta.Put(keyTree, x.Tree); err != nil {
				return err
			}
		}
		if x.Epoch != 0 && x.Epoch != st.Epoch {
			if err := meta.Put(keyEpoch, be64(x.Epoch)); err != nil {
				return err
			}
		}
		return putMarks(tx, x)
	})
	if cap(s.putBuf) > recentMax { // a huge batch once: do not keep its buffer
		s.putBuf = nil
	}
	if err != nil {
		return fmt.Errorf("append to spool: %w", err)
	}
	s.remember(batch)
	if n := len(batch); n > 0 {
		last := batch[n-1]
		s.state.Chain = last.Chain
		s.state.HeadSeq = last.Seq
		s.state.HeadMAC = last.MAC
		if s.first == 0 {
			s.first = batch[0].Seq
		}
		s.pend += added
	}
	if source != nil {
		s.state.Source = append(s.state.Source[:0], source...)
	}
	if x.HeadKid != "" {
		s.state.HeadKid = x.HeadKid
	}
	if x.Tree != nil {
		s.state.Tree = append(s.state.Tree[:0], x.Tree...)
	}
	if x.Epoch != 0 {
		s.state.Epoch = x.Epoch
	}
	s.wake()
	return nil
}

func putMarks(tx *bolt.Tx, x Extra) error {
	if len(x.Marks) == 0 && x.DropMarksThrough == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketMarks)
	if err != nil {
		return err
	}
	if x.DropMarksThrough > 0 {
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= x.DropMarksThrough; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	for _, m := range x.Marks {
		v := append(be64(uint64(m.Time.UnixNano())), m.Prev[:]...)
		if err := b.Put(be64(m.Seq), v); err != nil {
			return err
		}
	}
	return nil
}

// Marks returns the marks held, in seq order.
func (s *Spool) Marks() ([]Mark, error) {
	var out []Mark
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMarks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 || len(v) != 40 {
				return fmt.Errorf("mark entry of %d/%d bytes", len(k), len(v))
			}
			m := Mark{Seq: binary.BigEndian.Uint64(k), Time: time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()}
			copy(m.Prev[:], v[8:])
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read spool marks: %w", err)
	}
	return out, nil
}

// Read returns up to max records after the sink's cursor, in seq order.
// The returned records are copies owned by the caller.
func (s *Spool) Read(sink string, max int) ([]record.Sealed, error) {
	return s.ReadBounded(sink, max, 0)
}

// remember adds a committed batch to recent. Called with mu held.
func (s *Spool) remember(batch []record.Sealed) {
	if need := len(s.recent) + len(batch); need > cap(s.recent) {
		// Move the kept records to the front of the buffer (forget
		// advanced past the others), or to a larger one.
		buf := s.recentBuf
		if cap(buf) < need {
			buf = make([]record.Sealed, 0, 2*need)
		}
		n := copy(buf[:len(s.recent)], s.recent)
		clear(buf[n:cap(buf)]) // stale copies would keep payloads alive
		s.recent, s.recentBuf = buf[:n], buf[:0]
	}
	for _, r := range batch {
		s.recent = append(s.recent, r)
		s.recentBytes += len(r.Payload)
	}
	drop, over := 0, s.recentBytes-recentMax
	for ; drop < len(s.recent) && over > 0; drop++ {
		over -= len(s.recent[drop].Payload)
	}
	s.forget(drop)
}

// forget drops the oldest n records of recent. Called with mu held.
func (s *Spool) forget(n int) {
	if n == 0 {
		return
	}
	for i := range n {
		s.recentBytes -= len(s.recent[i].Payload)
	}
	clear(s.recent[:n]) // let the payloads go
	s.recent = s.recent[n:]
}

// fromRecent returns the records after seq after from recent, or false
// when recent does not hold the next one. Called with mu held.
func (s *Spool) fromRecent(after uint64, max, maxBytes int) ([]record.Sealed, bool) {
	if len(s.recent) == 0 || s.recent[0].Seq > after+1 || after >= s.recent[len(s.recent)-1].Seq {
		return nil, false
	}
	rs := s.recent[after+1-s.recent[0].Seq:]
	n, size := 0, 0
	for n < len(rs) && n < max && (maxBytes <= 0 || size < maxBytes) {
		size += len(rs[n].Payload)
		n++
	}
	return append([]record.Sealed(nil), rs[:n]...), true
}

// ReadBounded is Read that also stops once the records read hold maxBytes
// of payload (0: no bound); it always returns at least one record when
// one is there, whatever its size. Records the spool still has in memory
// are returned with their sealer's Columns and share its payload bytes,
// which the caller must not change.
func (s *Spool) ReadBounded(sink string, max int, maxBytes int) ([]record.Sealed, error) {
	return s.ReadAfter(sink, 0, max, maxBytes)
}

// ReadAfter is ReadBounded from the record after seq from, or after the
// sink's cursor if that is further: a deliverer that has batches in
// flight reads the next one before acknowledging them.
func (s *Spool) ReadAfter(sink string, from uint64, max int, maxBytes int) ([]record.Sealed, error) {
	s.mu.Lock()
	after, ok := s.sinks[sink]
	if from > after {
		after = from
	}
	chain := s.state.Chain
	out, hit := s.fromRecent(after, max, maxBytes)
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("read %q: %w", sink, ErrUnknownSink)
	}
	if hit {
		return out, nil
	}
	size := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(be64(after + 1)); k != nil && len(out) < max && (maxBytes <= 0 || size < maxBytes); k, v = c.Next() {
			size += len(v) - 32
			if len(v) < 32 {
				return fmt.Errorf("spooled record %d is %d bytes", binary.BigEndian.Uint64(k), len(v))
			}
			r := record.Sealed{Chain: chain, Seq: binary.BigEndian.Uint64(k), Payload: append([]byte(nil), v[32:]...)}
			copy(r.MAC[:], v[:32])
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read spool for %q: %w", sink, err)
	}
	return out, nil
}

// Ack records that sink has stored every record up to seq, and removes the
// records that every sink has.
func (s *Spool) Ack(sink string, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.sinks[sink]
	if !ok {
		return fmt.Errorf("ack %q: %w", sink, ErrUnknownSink)
	}
	if seq <= cur {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketCursors).Put([]byte(sink), be64(seq)); err != nil {
			return err
		}
		s.sinks[sink] = seq
		return s.trim(tx)
	})
	if err != nil {
		s.sinks[sink] = cur
		return fmt.Errorf("ack %q at %d: %w", sink, seq, err)
	}
	s.wake()
	return nil
}

// trim deletes the records every sink has. Called with mu held inside an
// update transaction.
func (s *Spool) trim(tx *bolt.Tx) error {
	if len(s.sinks) == 0 || s.first == 0 {
		return nil
	}
	low := s.state.HeadSeq
	for _, c := range s.sinks {
		low = min(low, c)
	}
	if low < s.first {
		return nil
	}
	recs := tx.Bucket(bucketRecords)
	c := recs.Cursor()
	var freed int64
	// Seek past each deleted key rather than First: the leaves emptied so
	// far stay in the transaction until it commits, and First would walk
	// them all again for every record.
	for k, v := c.Seek(be64(s.first)); k != nil && binary.BigEndian.Uint64(k) <= low; {
		next := binary.BigEndian.Uint64(k) + 1
		freed += int64(len(v))
		if err := c.Delete(); err != nil {
			return err
		}
		k, v = c.Seek(be64(next))
	}
	pend := s.pend - freed
	if err := tx.Bucket(bucketMeta).Put(keyPending, be64(uint64(pend))); err != nil {
		return err
	}
	// Only touch in-memory state once the transaction can no longer fail
	// because of us; bbolt may still fail the commit, in which case Open
	// recomputes nothing wrong: the pending counter is in the same tx.
	tx.OnCommit(func() {
		s.pend = pend
		s.first = 0
		if low < s.state.HeadSeq {
			s.first = low + 1
		}
		n := 0
		for n < len(s.recent) && s.recent[n].Seq <= low {
			n++
		}
		s.forget(n)
	})
	return nil
}

// Delivered returns the highest seq that every sink has stored (the head
// when no sink is registered).
func (s *Spool) Delivered() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	low := s.state.HeadSeq
	for _, c := range s.sinks {
		low = min(low, c)
	}
	return low
}

// Cursor returns the sink's cursor.
func (s *Spool) Cursor(sink string) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.sinks[sink]
	return c, ok
}

// PendingBytes returns the bytes of records still held.
func (s *Spool) PendingBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pend
}

// Full reports whether pending bytes reached Options.MaxBytes.
func (s *Spool) Full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.MaxBytes > 0 && s.pend >= s.opts.MaxBytes
}

// Changed returns a channel that is closed at the next Append or Ack.
func (s *Spool) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

func (s *Spool) wake() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// Close closes the file.
func (s *Spool) Close() error { return s.db.Close() }

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
