// Command consolequery measures the console's pages as a reader gets
// them: it signs in to a running console (audit-sidecar run with
// server.console, or audit-sidecar console) with a token, takes filter
// values from the newest records (GET /v1/audit), then fetches each kind
// of search page, a session's, a trace's and a call id's story and the
// overview of a day and of a week -n times, whole (the query, the
// rendering and the transfer), and prints p50/p95/p99 per kind as a
// markdown table. See bench/README.md.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "the API listener serving /console/")
	n := flag.Int("n", 200, "fetches of each page kind")
	flag.Parse()
	token := os.Getenv("AUDIT_BENCH_TOKEN")
	if token == "" {
		fail(errors.New("set AUDIT_BENCH_TOKEN to an admin token of the console's tokens file"))
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	if err := signIn(c, *base, token); err != nil {
		fail(err)
	}
	values, err := sample(c, *base, token)
	if err != nil {
		fail(err)
	}
	kinds := [][2]string{{"search, no filter", "/console/search"}}
	for _, k := range []string{"user", "session", "tool", "action", "model", "tenant"} {
		if v := values[k]; v != "" {
			kinds = append(kinds, [2]string{"search, " + k, "/console/search?" + url.Values{k: {v}}.Encode()})
		}
	}
	if v := values["session"]; v != "" {
		kinds = append(kinds, [2]string{"story of a session", "/console/story?" + url.Values{"session": {v}}.Encode()})
	}
	if v := values["trace"]; v != "" {
		kinds = append(kinds, [2]string{"story of a trace", "/console/story?" + url.Values{"trace": {v}}.Encode()})
		// A record's link to its call id's story names its trace. The
		// call id is a sampled record's, or one no record has (the same
		// reads: the trace's records, each checked for the call id).
		call, tr := values["call_id"], values["call_trace"]
		if call == "" {
			call, tr = "consolequery-no-such-call", v
		}
		kinds = append(kinds, [2]string{"story of a call id in its trace",
			"/console/story?" + url.Values{"call_id": {call}, "trace": {tr}}.Encode()})
	}
	for _, h := range []string{"24", "168"} {
		kinds = append(kinds, [2]string{"overview, " + h + " h", "/console/overview?hours=" + h})
	}
	fmt.Println("| page | p50 ms | p95 ms | p99 ms | bytes |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, k := range kinds {
		var times []time.Duration
		size := 0
		for range *n {
			start := time.Now()
			b, err := get(c, *base+k[1], "")
			if err != nil {
				fail(fmt.Errorf("%s: %w", k[0], err))
			}
			times = append(times, time.Since(start))
			size = len(b)
		}
		slices.Sort(times)
		q := func(p float64) float64 { return float64(times[int(p*float64(len(times)-1))].Microseconds()) / 1000 }
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %d |\n", k[0], q(0.5), q(0.95), q(0.99), size)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn posts the token through the sign-in form, as a browser does.
func signIn(c *http.Client, base, token string) error {
	page, err := get(c, base+"/console/signin", "")
	if err != nil {
		return fmt.Errorf("sign-in form: %w", err)
	}
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return errors.New("sign-in form: no csrf field")
	}
	resp, err := c.PostForm(base+"/console/signin", url.Values{"token": {token}, "csrf": {string(m[1])}})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the cookie matters
	resp.Body.Close()
	u, _ := url.Parse(base + "/console/")
	for _, ck := range c.Jar.Cookies(u) {
		if strings.Contains(ck.Name, "session") {
			return nil
		}
	}
	return fmt.Errorf("sign-in: %s, no session cookie", resp.Status)
}

// sample returns a value of each filter from the newest records.
func sample(c *http.Client, base, token string) (map[string]string, error) {
	b, err := get(c, base+"/v1/audit?limit=200", token)
	if err != nil {
		return nil, fmt.Errorf("/v1/audit: %w", err)
	}
	var page struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, fmt.Errorf("/v1/audit: %w", err)
	}
	out := map[string]string{}
	for _, r := range page.Records {
		for _, k := range []string{"user", "session", "tool", "action", "model", "tenant", "trace"} {
			if s, ok := r[k].(string); ok && s != "" && out[k] == "" {
				out[k] = s
			}
		}
		// A call id and its trace from one record.
		d, _ := r["detail"].(map[string]any)
		if s, ok := d["call_id"].(string); ok && s != "" && out["call_id"] == "" {
			if tr, ok := r["trace"].(string); ok && tr != "" {
				out["call_id"], out["call_trace"] = s, tr
			}
		}
	}
	return out, nil
}

func get(c *http.Client, u, token string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s", resp.Status)
	}
	return b, err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "consolequery:", err)
	os.Exit(1)
}
