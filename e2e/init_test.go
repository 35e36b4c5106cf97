package e2e

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// maxInitBytes bounds what one package of the binary may allocate when the
// process starts, before the sidecar does anything. Every agent pod pays
// for it: a report template or a table of regular expressions that only
// verify uses belongs behind a sync.OnceValue, built when first used
// (verify's allocated 1.7 MB at every start before).
const maxInitBytes = 512 << 10

// TestE2E_InitAllocationsBounded runs the built binary with
// GODEBUG=inittrace=1 and requires every package's init to allocate at
// most maxInitBytes.
func TestE2E_InitAllocationsBounded(t *testing.T) {
	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("version: %v\n%s", err, stderr.String())
	}
	// init PKG @0.1 ms, 0.007 ms clock, 320 bytes, 4 allocs
	seen, total := 0, 0
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		n, err := strconv.Atoi(f[7])
		if err != nil {
			t.Fatalf("cannot read %q: %v", sc.Text(), err)
		}
		seen++
		total += n
		if n > maxInitBytes {
			t.Errorf("package %s allocates %d bytes at start, more than %d: build what only a command uses when it is first used", f[1], n, maxInitBytes)
		}
	}
	if seen == 0 {
		t.Fatalf("no init trace read from GODEBUG=inittrace=1:\n%s", stderr.String())
	}
	t.Logf("%d packages allocate %d bytes in all at start", seen, total)
}
