package e2e

import (
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// appender appends numbered events to a file until stopped, like an agent
// that does not care whether the sidecar is up.
type appender struct {
	path string
	stop chan struct{}
	wg   sync.WaitGroup

	mu  sync.Mutex
	n   int // events written so far: n = 0..n-1
	err error
}

func startAppender(path string, seed uint64) *appender {
	a := &appender{path: path, stop: make(chan struct{})}
	rng := rand.New(rand.NewPCG(seed, 1))
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			select {
			case <-a.stop:
				return
			default:
			}
			a.mu.Lock()
			var b strings.Builder
			k := 1 + rng.IntN(10)
			for i := 0; i < k; i++ {
				b.WriteString(event(map[string]any{"action": "tool_call", "tool": "crash", "user": "u-1", "n": a.n + i}))
			}
			err := appendFile(a.path, b.String())
			if err == nil {
				a.n += k
			}
			a.err = err
			a.mu.Unlock()
			if err != nil {
				return
			}
			time.Sleep(time.Duration(2+rng.IntN(10)) * time.Millisecond) // the agent's pace
		}
	}()
	return a
}

// finish stops the appender and returns how many events it wrote.
func (a *appender) finish(t *testing.T) int {
	t.Helper()
	close(a.stop)
	a.wg.Wait()
	if a.err != nil {
		t.Fatalf("appender: %v", a.err)
	}
	return a.n
}

func (a *appender) written() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func TestE2E_KillNineRestart(t *testing.T) {
	t.Parallel()
	const kills = 5
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))

	e := newEnv(t)
	appendLines(t, e.logPath, "")
	p := e.start(t)
	p.addr(t) // the sink is open before the listener
	db := openDB(t, e.dbPath)
	w := startAppender(e.logPath, seed)
	defer func() {
		select {
		case <-w.stop:
		default:
			w.finish(t)
		}
	}()

	for i := 0; i < kills; i++ {
		// A random moment: sometimes still starting up, mostly mid-ingest.
		time.Sleep(time.Duration(50+rng.IntN(1200)) * time.Millisecond)
		p.kill9(t)
		t.Logf("kill -9 #%d: %d events written, %d stored", i+1, w.written(), countN(db))
		p = e.start(t)
	}
	total := w.finish(t)
	waitForEvents(t, db, total, p)
	p.stop(t)

	requireExactlyOnce(t, db, total)
	requireGaplessSeqs(t, db, e.chainID)
	var starts, chainStarts int
	if err := db.QueryRow(`SELECT count(*) FILTER (WHERE action = 'sidecar_start'),
		count(*) FILTER (WHERE action = 'chain_start') FROM audit_records`).Scan(&starts, &chainStarts); err != nil {
		t.Fatal(err)
	}
	if chainStarts != 1 || starts < 1 || starts > kills+1 {
		t.Errorf("%d chain_start and %d sidecar_start records over %d runs; want 1 and 1..%d",
			chainStarts, starts, kills+1, kills+1)
	}
	requireValid(t, e.cfgPath)
}
