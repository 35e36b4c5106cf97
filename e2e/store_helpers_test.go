package e2e

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite", to read the sink's file directly
)

// auditRecord is a record as GET /v1/audit returns it.
type auditRecord struct {
	V          int                        `json:"v"`
	Chain      string                     `json:"chain"`
	Seq        uint64                     `json:"seq"`
	TS         string                     `json:"ts"`
	Action     string                     `json:"action"`
	User       string                     `json:"user"`
	Tenant     string                     `json:"tenant"`
	Session    string                     `json:"session"`
	Model      string                     `json:"model"`
	Tool       string                     `json:"tool"`
	Outcome    string                     `json:"outcome"`
	Arguments  json.RawMessage            `json:"arguments"`
	Detail     map[string]json.RawMessage `json:"detail"`
	Redactions redactionManifest          `json:"redactions"`
	MAC        string                     `json:"mac"`

	raw json.RawMessage // the record as served
}

// redactionManifest is a record's "redactions" member (payload version 2).
type redactionManifest struct {
	Policy string `json:"policy"`
	Rules  []struct {
		Rule  string   `json:"rule"`
		Type  string   `json:"type"`
		Count int      `json:"count"`
		Paths []string `json:"paths"`
	} `json:"rules"`
}

// n is the event number the tests put in every agent event ("n" lands in
// detail); ok is false for the sidecar's own records.
func (r *auditRecord) n() (int, bool) {
	raw, ok := r.Detail["n"]
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(string(raw))
	return n, err == nil
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// get sends GET http://addr+path?q with a bearer token ("" for none).
func get(t *testing.T, addr, token, path string, q url.Values) (int, []byte) {
	t.Helper()
	u := url.URL{Scheme: "http", Host: addr, Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u.String(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", u.String(), err)
	}
	return resp.StatusCode, body
}

// pageAll follows next_cursor from the first page of /v1/audit?q&limit to
// the last and returns every record in the order served.
func pageAll(t *testing.T, addr, token string, q url.Values, limit int) []auditRecord {
	t.Helper()
	var all []auditRecord
	cursor := ""
	for page := 0; ; page++ {
		if page > 100000 {
			t.Fatal("more than 100000 pages: the cursor does not advance")
		}
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("limit", strconv.Itoa(limit))
		if cursor != "" {
			pq.Set("cursor", cursor)
		}
		status, body := get(t, addr, token, "/v1/audit", pq)
		if status != http.StatusOK {
			t.Fatalf("GET /v1/audit?%s: status %d, body %s", pq.Encode(), status, body)
		}
		var p struct {
			Records    []json.RawMessage `json:"records"`
			NextCursor *string           `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("GET /v1/audit?%s: decode: %v", pq.Encode(), err)
		}
		if len(p.Records) > limit {
			t.Fatalf("page of %d records with limit %d", len(p.Records), limit)
		}
		for _, raw := range p.Records {
			r := auditRecord{raw: raw}
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatalf("GET /v1/audit?%s: decode record: %v", pq.Encode(), err)
			}
			all = append(all, r)
		}
		if p.NextCursor == nil {
			return all
		}
		if *p.NextCursor == "" || len(p.Records) == 0 {
			t.Fatalf("page %d: next_cursor %q with %d records", page, *p.NextCursor, len(p.Records))
		}
		cursor = *p.NextCursor
	}
}

// openDB opens a SQLite file directly, as a tool (or an attacker) would.
func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// nCounts maps every event number n found in the sink to how often it is
// stored.
func nCounts(t *testing.T, db *sql.DB) map[int]int {
	t.Helper()
	rows, err := db.Query(`SELECT json_extract(payload, '$.detail.n') FROM audit_records
		WHERE json_extract(payload, '$.detail.n') IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	counts := map[int]int{}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[n]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return counts
}

// countN counts stored agent events (rows with detail.n); -1 if the table
// is not there yet.
func countN(db *sql.DB) int {
	var n int
	err := db.QueryRow(`SELECT count(*) FROM audit_records
		WHERE json_extract(payload, '$.detail.n') IS NOT NULL`).Scan(&n)
	if err != nil {
		return -1
	}
	return n
}

// waitForEvents waits until at least total agent events are stored; on
// timeout it reports which are missing (and the process's cleanup prints
// what it logged).
func waitForEvents(t *testing.T, db *sql.DB, total int, p *proc) {
	t.Helper()
	if eventually(func() bool { return countN(db) >= total }) {
		return
	}
	t.Errorf("timed out after %s waiting for %d events in SQLite (%d stored; process exited: %v)",
		waitDeadline, total, countN(db), p.exited())
	requireExactlyOnce(t, db, total)
	t.FailNow()
}

// requireExactlyOnce fails unless every n in [0, total) is stored exactly
// once and nothing else carries an n. It reports missing and duplicated
// events as ranges.
func requireExactlyOnce(t *testing.T, db *sql.DB, total int) {
	t.Helper()
	counts := nCounts(t, db)
	var missing, dup ranges
	for n := 0; n < total; n++ {
		switch c := counts[n]; {
		case c == 0:
			missing.add(n)
		case c > 1:
			dup.add(n)
		}
	}
	for n := range counts {
		if n < 0 || n >= total {
			t.Errorf("unexpected event n=%d stored", n)
		}
	}
	if missing.count+dup.count > 0 {
		t.Fatalf("of %d events, %d missing %v, %d stored more than once %v",
			total, missing.count, missing.spans, dup.count, dup.spans)
	}
}

// ranges collects ascending ints as "a-b" spans.
type ranges struct {
	spans []string
	count int
	from  int
	last  int
}

func (r *ranges) add(n int) {
	if r.count > 0 && n == r.last+1 {
		r.last = n
		r.spans[len(r.spans)-1] = span(r.from, n)
	} else {
		r.from, r.last = n, n
		r.spans = append(r.spans, span(n, n))
	}
	r.count++
}

func span(from, to int) string {
	if from == to {
		return strconv.Itoa(from)
	}
	return strconv.Itoa(from) + "-" + strconv.Itoa(to)
}

// requireGaplessSeqs fails unless the chain's seqs are exactly 1..count.
func requireGaplessSeqs(t *testing.T, db *sql.DB, chain string) int {
	t.Helper()
	rows, err := db.Query(`SELECT seq FROM audit_records WHERE chain = ? ORDER BY seq`, chain)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := uint64(1)
	for rows.Next() {
		var seq uint64
		if err := rows.Scan(&seq); err != nil {
			t.Fatal(err)
		}
		if seq != want {
			t.Fatalf("chain %s: seq %d follows %d", chain, seq, want-1)
		}
		want++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want == 1 {
		t.Fatalf("chain %s: no records", chain)
	}
	return int(want - 1)
}
