package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The memory bound of concurrent queries, as the README states it: with
// the default server.max_concurrent_queries, a burst of 1000 concurrent
// limit=1000 queries over large records raises the peak RSS (VmHWM) of
// the process by less than queryBurstBudget over its peak after one such
// query. Each query served holds at most one chunk of rows
// (sink.SearchChunkBytes) and a small write buffer; the others wait
// briefly or are refused with 429 before any row is read.
const queryBurstBudget = 128 << 20

// Sizes of the burst: queryBurstEvents events with an argument of
// queryBurstArgBytes each, so that one page of 1000 is about 3.4 MiB, and
// 1000 clients (E2E_QUERY_BURST_CLIENTS for more).
const (
	queryBurstEvents   = 1100
	queryBurstArgBytes = 3000
)

func queryBurstClients(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("E2E_QUERY_BURST_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			t.Fatalf("E2E_QUERY_BURST_CLIENTS=%q: want a number, at least 100", v)
		}
		return n
	}
	return 1000
}

// TestE2E_QueryBurst_MemoryBounded fires 1000 concurrent
// GET /v1/audit?limit=1000 at a store of large records and reads the
// process's peak RSS (VmHWM) after them. It requires the peak within the
// warm peak plus queryBurstBudget, some requests refused with 429, a
// Retry-After and a JSON error, and every other request answered with a
// complete, valid page of 1000 records and a next cursor.
func TestE2E_QueryBurst_MemoryBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID/status")
	}
	clients := queryBurstClients(t)
	e := newEnv(t)
	words := strings.Repeat("audit trail sidecar query memory bound ", queryBurstArgBytes/39+1)[:queryBurstArgBytes]
	var b strings.Builder
	for n := range queryBurstEvents {
		b.WriteString(event(map[string]any{
			"ts":     httpBase.Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339Nano),
			"action": "tool_call", "tool": "search", "tenant": "acme", "n": n,
			"arguments": map[string]any{"text": words},
		}))
	}
	appendLines(t, e.logPath, b.String())
	p := e.start(t)
	addr := p.addr(t)
	waitForEvents(t, openDB(t, e.dbPath), queryBurstEvents, p)

	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true, // one connection per request, as a crowd of clients has
		MaxConnsPerHost:   0,
	}}
	query := func() (status int, retryAfter string, err error) {
		u := url.URL{Scheme: "http", Host: addr, Path: "/v1/audit", RawQuery: "limit=1000"}
		req, err := http.NewRequest(http.MethodGet, u.String(), nil)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Authorization", "Bearer "+e.adminToken)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return resp.StatusCode, "", checkPage(resp.Body, 1000)
		case http.StatusTooManyRequests:
			var body struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == "" {
				return resp.StatusCode, "", fmt.Errorf("429 without a JSON error (%v)", err)
			}
			return resp.StatusCode, resp.Header.Get("Retry-After"), nil
		default:
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return resp.StatusCode, "", fmt.Errorf("status %d: %s", resp.StatusCode, msg)
		}
	}

	// Warm up: one page served (code paged in, the store's cache filled).
	if status, _, err := query(); status != http.StatusOK || err != nil {
		t.Fatalf("warm-up query: %d %v", status, err)
	}
	warm := vmHWM(t, p)

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		errs     []error
		noRetry  int
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, retryAfter, err := query()
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if err != nil {
				errs = append(errs, err)
			}
			if status == http.StatusTooManyRequests && retryAfter == "" {
				noRetry++
			}
		}()
	}
	close(start)
	wg.Wait()
	peak := vmHWM(t, p)
	t.Logf("%d concurrent limit=1000 queries (pages of %.1f MiB): statuses %v; peak RSS %.1f MiB = warm %.1f MiB + %.1f MiB",
		clients, float64(1000*(queryBurstArgBytes+600))/(1<<20), statuses,
		float64(peak)/(1<<20), float64(warm)/(1<<20), float64(peak-warm)/(1<<20))
	if peak-warm > queryBurstBudget {
		t.Errorf("peak RSS %d bytes, more than the warm peak %d + %d MiB", peak, warm, queryBurstBudget>>20)
	}
	if len(errs) > 0 {
		t.Errorf("%d requests failed, the first: %v", len(errs), errors.Join(errs[:min(len(errs), 3)]...))
	}
	if statuses[http.StatusTooManyRequests] == 0 {
		t.Errorf("no request was refused with 429: concurrent queries are not bounded")
	}
	if noRetry > 0 {
		t.Errorf("%d responses 429 without Retry-After", noRetry)
	}
	if statuses[http.StatusOK] == 0 {
		t.Errorf("no request was served")
	}
	if statuses[http.StatusOK]+statuses[http.StatusTooManyRequests] != clients {
		t.Errorf("statuses %v: want only 200 and 429", statuses)
	}
	// The burst over, a query is served again.
	if status, _, err := query(); status != http.StatusOK || err != nil {
		t.Errorf("query after the burst: %d %v", status, err)
	}
	p.stop(t)
}

// checkPage reads a page from r without holding it whole: exactly
// {"records":[...],"next_cursor":"..."} with want records, each with a
// chain, a seq and a 64-digit MAC, in (ts, chain, seq) order, and a
// next cursor; nothing after it but a newline.
func checkPage(r io.Reader, want int) error {
	dec := json.NewDecoder(r)
	expect := func(want json.Token) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok != want {
			return fmt.Errorf("token %v, want %v", tok, want)
		}
		return nil
	}
	for _, tok := range []json.Token{json.Delim('{'), "records", json.Delim('[')} {
		if err := expect(tok); err != nil {
			return err
		}
	}
	n := 0
	var prev struct {
		TS, Chain string
		Seq       uint64
	}
	for dec.More() {
		var rec struct {
			TS, Chain, MAC string
			Seq            uint64
		}
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		if rec.Chain == "" || rec.Seq == 0 || len(rec.MAC) != 64 {
			return fmt.Errorf("record %d: chain %q seq %d mac %q", n, rec.Chain, rec.Seq, rec.MAC)
		}
		if n > 0 && (rec.TS < prev.TS || rec.TS == prev.TS && rec.Seq <= prev.Seq) {
			return fmt.Errorf("record %d (seq %d) out of order", n, rec.Seq)
		}
		prev.TS, prev.Chain, prev.Seq = rec.TS, rec.Chain, rec.Seq
		n++
	}
	if err := expect(json.Delim(']')); err != nil {
		return err
	}
	if err := expect("next_cursor"); err != nil {
		return err
	}
	tok, err := dec.Token()
	if c, ok := tok.(string); err != nil || !ok || c == "" {
		return fmt.Errorf("next_cursor %v (%v), want a cursor", tok, err)
	}
	if err := expect(json.Delim('}')); err != nil {
		return err
	}
	if rest, err := io.ReadAll(io.MultiReader(dec.Buffered(), r)); err != nil || strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("bytes after the page: %q", rest)
	}
	if n != want {
		return fmt.Errorf("%d records, want %d", n, want)
	}
	return nil
}
