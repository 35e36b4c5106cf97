package chain

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func epochTestKey(t *testing.T, fill byte) Key {
	t.Helper()
	k, err := NewKey("k1", bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// storedEpochFile returns the path of an epoch key file holding k at
// epoch 7.
func storedEpochFile(t *testing.T, k Key) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spool.db.epoch-key")
	if err := NewEpochFile(path).Store(k, 7); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEpochFile_StoreLoad(t *testing.T) {
	f := NewEpochFile(filepath.Join(t.TempDir(), "spool.db.epoch-key"))
	if _, _, ok, err := f.Load(); ok || err != nil {
		t.Fatalf("Load of a missing file: ok %v, %v", ok, err)
	}
	k := epochTestKey(t, 0xa1)
	if err := f.Store(k, 7); err != nil {
		t.Fatal(err)
	}
	got, e, ok, err := f.Load()
	if err != nil || !ok || e != 7 || got.ID != "k1" || !bytes.Equal(got.Secret(), k.Secret()) {
		t.Fatalf("Load after Store: kid %q epoch %d ok %v err %v, key equal %v", got.ID, e, ok, err, bytes.Equal(got.Secret(), k.Secret()))
	}
	if fi, err := os.Stat(f.path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v, %v", fi.Mode(), err)
	}
}

// After a Store, the previous key is in neither the file nor the blocks
// of the file it replaced (seen through a hard link made before), and no
// temporary file is left.
func TestEpochFile_Store_ErasesThePreviousKey(t *testing.T) {
	old, next := epochTestKey(t, 0xa1), epochTestKey(t, 0xb2)
	path := storedEpochFile(t, old)
	link := path + ".link"
	if err := os.Link(path, link); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	if err := NewEpochFile(path).Store(next, 8); err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(cur, old.Secret()) || !bytes.Contains(cur, next.Secret()) {
		t.Fatal("the file does not hold exactly the new key")
	}
	replaced, err := os.ReadFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if len(replaced) == 0 || !bytes.Equal(replaced, make([]byte, len(replaced))) {
		t.Fatal("the replaced file was not overwritten with zeros")
	}
	if _, err := os.Lstat(path + epochNewExt); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
}

// A torn or damaged file is refused with an error that names the file and
// never the key: a wrong key would make every later record unverifiable.
func TestEpochFile_Load_RefusesDamage(t *testing.T) {
	k := epochTestKey(t, 0xa1)
	good, err := os.ReadFile(storedEpochFile(t, k))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0x10; return b }
	}
	keyOff := 9 + 128 + 10
	tests := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"cut after the magic", func(b []byte) []byte { return b[:8] }},
		{"cut in the key", func(b []byte) []byte { return b[:keyOff+16] }},
		{"cut before the checksum", func(b []byte) []byte { return b[:epochBodySize] }},
		{"last byte missing", func(b []byte) []byte { return b[:len(b)-1] }},
		{"written past its end", func(b []byte) []byte { return append(b, 0) }},
		{"zero-filled", func(b []byte) []byte { return make([]byte, len(b)) }},
		{"zero-filled from the key on", func(b []byte) []byte { clear(b[keyOff:]); return b }},
		{"bit flipped in the magic", flip(3)},
		{"bit flipped in the kid", flip(9)},
		{"bit flipped in the epoch", flip(9 + 128 + 7)},
		{"bit flipped in the key", flip(keyOff + 5)},
		{"bit flipped in the padding", flip(epochBodySize - 1)},
		{"bit flipped in the checksum", flip(epochFileSize - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spool.db.epoch-key")
			if err := os.WriteFile(path, tt.damage(bytes.Clone(good)), 0o600); err != nil {
				t.Fatal(err)
			}
			got, _, ok, err := NewEpochFile(path).Load()
			if !errors.Is(err, ErrBadEpochFile) || ok || got.secret != nil {
				t.Fatalf("Load: ok %v, %v; want an error wrapping ErrBadEpochFile", ok, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("the error does not name the file: %s", msg)
			}
			if strings.Contains(msg, hex.EncodeToString(k.Secret())) || strings.Contains(msg, string(k.Secret())) {
				t.Error("the error quotes the key")
			}
		})
	}
}

// A file of the first format (no checksum) is read, and replaced by the
// current format at the next Store.
func TestEpochFile_FirstFormat_ReadAndUpgraded(t *testing.T) {
	k := epochTestKey(t, 0xa1)
	v1 := make([]byte, epochBodySize)
	copy(v1, epochMagicV1)
	v1[8] = byte(len(k.ID))
	copy(v1[9:], k.ID)
	binary.BigEndian.PutUint64(v1[9+128:], 3)
	binary.BigEndian.PutUint16(v1[9+128+8:], uint16(len(k.secret)))
	copy(v1[9+128+10:], k.secret)
	path := filepath.Join(t.TempDir(), "spool.db.epoch-key")
	if err := os.WriteFile(path, v1, 0o600); err != nil {
		t.Fatal(err)
	}
	f := NewEpochFile(path)
	got, e, ok, err := f.Load()
	if err != nil || !ok || e != 3 || !bytes.Equal(got.Secret(), k.Secret()) {
		t.Fatalf("Load of the first format: epoch %d ok %v err %v", e, ok, err)
	}
	next := k.Ratchet(3)
	if err := f.Store(next, 4); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) != epochFileSize || string(b[:8]) != epochMagic {
		t.Fatalf("after Store: %d bytes starting %q, %v; want the current format", len(b), b[:min(8, len(b))], err)
	}
	if got, e, ok, err := f.Load(); err != nil || !ok || e != 4 || !bytes.Equal(got.Secret(), next.Secret()) {
		t.Fatalf("Load after the upgrade: epoch %d ok %v err %v", e, ok, err)
	}
}

// What a Store cut short left beside the file is overwritten, and never
// written through when it is a symbolic link.
func TestEpochFile_Store_LeftoverTemporaryFile(t *testing.T) {
	for _, symlink := range []bool{false, true} {
		t.Run(map[bool]string{false: "file", true: "symbolic link"}[symlink], func(t *testing.T) {
			path := storedEpochFile(t, epochTestKey(t, 0xa1))
			tmp := path + epochNewExt
			victim := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(victim, []byte("untouched"), 0o600); err != nil {
				t.Fatal(err)
			}
			if symlink {
				if err := os.Symlink(victim, tmp); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(tmp, bytes.Repeat([]byte{0xee}, 2*epochFileSize), 0o600); err != nil {
				t.Fatal(err)
			}
			next := epochTestKey(t, 0xb2)
			if err := NewEpochFile(path).Store(next, 8); err != nil {
				t.Fatal(err)
			}
			got, e, ok, err := NewEpochFile(path).Load()
			if err != nil || !ok || e != 8 || !bytes.Equal(got.Secret(), next.Secret()) {
				t.Fatalf("Load: epoch %d ok %v err %v", e, ok, err)
			}
			if b, _ := os.ReadFile(victim); string(b) != "untouched" {
				t.Fatalf("the symbolic link's target was written: %q", b)
			}
			if _, err := os.Lstat(tmp); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("temporary file left: %v", err)
			}
		})
	}
}

// A Store of the key and epoch the file holds writes nothing (every
// restart stores its current key; on a full disk the write beside would
// fail and stop the start): the file keeps its inode, and a temporary
// path that cannot be written does not matter, while it does for any
// other key or epoch, and for a file of the first format.
func TestEpochFile_Store_UnchangedWritesNothing(t *testing.T) {
	k := epochTestKey(t, 0xa1)
	path := storedEpochFile(t, k)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// No file can be written there: a folder that is not empty.
	if err := os.MkdirAll(filepath.Join(path+epochNewExt, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	f := NewEpochFile(path)
	if err := f.Store(k, 7); err != nil {
		t.Fatalf("Store of the key the file holds: %v", err)
	}
	if after, err := os.Stat(path); err != nil || !os.SameFile(before, after) {
		t.Fatalf("the file was replaced by a Store of what it holds (%v)", err)
	}
	for name, store := range map[string]func() error{
		"another epoch": func() error { return f.Store(k, 8) },
		"another key":   func() error { return f.Store(epochTestKey(t, 0xb2), 7) },
	} {
		if err := store(); err == nil {
			t.Errorf("%s: stored although nothing can be written beside the file", name)
		}
	}
	// A file of the first format holding the same key is upgraded.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, epochMagicV1)
	if err := os.WriteFile(path, b[:epochBodySize], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Store(k, 7); err == nil {
		t.Error("a file of the first format was not rewritten (nothing can be written beside it, so the Store must fail)")
	}
}
