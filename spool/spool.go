package spool

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
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

// State returns what the spool holds now.
func (s *Spool) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Source = append([]byte(nil), st.Source...)
	st.Tree = append([]byte(nil), st.Tree...)
	return st
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
	// sinceRelease counts the bytes trimmed since the file's mapped pages
	// were last released (release.go).
	sinceRelease int64
}

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

func boltOptions(opts Options) *bolt.Options {
	return &bolt.Options{
		Timeout:        opts.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		ReadOnly:       opts.ReadOnly,
	}
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
