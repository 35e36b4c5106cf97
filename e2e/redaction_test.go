package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// githubToken is a GitHub token with a valid CRC32 checksum.
func githubToken(random30 string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	v := crc32.ChecksumIEEE([]byte(random30))
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = digits[v%62]
		v /= 62
	}
	return "ghp_" + random30 + string(b[:])
}

// TestE2E_RedactionNeverStoresPII: PII in tool arguments (nested, held in
// a JSON string, URL-encoded, split across fields, as a number), in tool
// results, in free text and in other event fields, under every pack, a
// path rule and a dropped field, reaches neither the SQLite sink, nor the
// spool file, nor the sidecar's log, nor /metrics; the records carry the
// manifest instead.
func TestE2E_RedactionNeverStoresPII(t *testing.T) {
	t.Parallel()
	pem := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAzq9XLEAKEDKEYBODY0123456789\n-----END RSA PRIVATE KEY-----"
	secrets := map[string]string{
		"email":    "dana.k@example.com",
		"card":     "4111 1111 1111 1111",
		"cardnum":  "5555555555554444",
		"ssn":      "536-22-8765",
		"phone":    "(415) 555-0132",
		"ukphone":  "020 7946 0958",
		"ip":       "203.0.113.7",
		"iban":     "DE89 3704 0044 0532 0130 00",
		"steuer":   "86095742719",
		"cpf":      "529.982.247-25",
		"aadhaar":  "2345 6789 0124",
		"nino":     "AB 12 34 56 C",
		"dob":      "1985-03-14",
		"passport": "X12345678",
		"aws":      "AKIAIOSFODNN7EXAMPLE",
		"github":   githubToken("aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1"),
		"pembody":  "MIIEowIBAAKCAQEAzq9XLEAKEDKEYBODY0123456789",
		"b64pem":   base64.StdEncoding.EncodeToString([]byte(pem + "\n")),
		"password": "hunter2-Zq9xW",
		"dropped":  "tok-dropped-Q7w8E9",
	}
	// The Aadhaar literal above must be Verhoeff-valid; fix its check digit.
	secrets["aadhaar"] = aadhaarGrouped("23456789012")

	e := newEnv(t)
	e.writeConfig(t, `redact:
  packs: [hipaa, gdpr, in, br]
  paths:
    - {path: "*.password"}
    - {path: detail.api_token, action: drop}
  actions: {CARD: partial}
`)
	inner, _ := json.Marshal(map[string]any{"query": "find " + secrets["email"], "private_key": pem, "user": map[string]string{"password": secrets["password"]}})
	var lines strings.Builder
	const total = 40
	for n := 0; n < total; n++ {
		ts := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339Nano)
		var ev map[string]any
		switch n % 4 {
		case 0: // arguments, nested and encoded
			ev = map[string]any{"action": "tool_call", "tool": "crm.update", "arguments": map[string]any{
				"to": []string{secrets["email"]}, "card": secrets["card"], "card_number": json.Number(secrets["cardnum"]),
				"cc":       map[string]string{"cc1": "4111", "cc2": "1111", "cc3": "1111", "cc4": "1111"},
				"patient":  map[string]string{"date_of_birth": secrets["dob"], "passport_no": secrets["passport"], "ssn": secrets["ssn"]},
				"url":      "https://crm.example/api?mail=" + url.QueryEscape(secrets["email"]) + "&iban=" + url.QueryEscape(secrets["iban"]),
				"password": secrets["password"],
				"payload":  string(inner),
			}}
		case 1: // a tool result
			ev = map[string]any{"action": "tool_result", "tool": "crm.lookup", "outcome": "success",
				"result": fmt.Sprintf("customer %s, phone %s / %s, IBAN %s, Steuer-ID %s, CPF %s, Aadhaar %s, NINO %s",
					secrets["email"], secrets["phone"], secrets["ukphone"], secrets["iban"], secrets["steuer"], secrets["cpf"], secrets["aadhaar"], secrets["nino"])}
		case 2: // free text
			ev = map[string]any{"action": "decision", "reasoning_summary": fmt.Sprintf(
				"the user pasted %s and %s from %s; key:\n%s", secrets["aws"], secrets["github"], secrets["ip"], pem)}
		case 3: // other event fields, a Kubernetes Secret manifest
			ev = map[string]any{"action": "tool_call", "tool": "kubectl.apply", "api_token": secrets["dropped"],
				"manifest": "apiVersion: v1\nkind: Secret\ndata:\n  tls.key: " + secrets["b64pem"] + "\n",
				"message":  "ssn " + secrets["ssn"] + ", mail " + secrets["email"]}
		}
		ev["ts"], ev["user"], ev["tenant"], ev["session"], ev["n"] = ts, "u-1", "acme", "s-1", n
		lines.WriteString(event(ev))
		if n == total/2 { // a line that is not JSON: kept in a parse_error record, redacted
			lines.WriteString(`{"action":"tool_call","arguments":{"card":"` + secrets["card"] + `","ssn":"` + secrets["ssn"] + `"` + "\n")
		}
	}
	appendLines(t, e.logPath, lines.String())
	p := e.start(t)
	addr := p.addr(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, total, p)

	recs := pageAll(t, addr, e.adminToken, nil, 1000)
	_, metrics := get(t, addr, "", "/metrics", nil)
	manifests := 0
	for _, r := range recs {
		if _, ok := r.n(); ok && len(r.Redactions.Rules) > 0 && strings.HasPrefix(r.Redactions.Policy, "rp1-") {
			manifests++
		}
	}
	if manifests != total {
		t.Errorf("%d of %d events carry a manifest", manifests, total)
	}
	parseErrors := 0
	for _, r := range recs {
		if r.Action == "parse_error" && len(r.Redactions.Rules) > 0 {
			parseErrors++
		}
	}
	if parseErrors != 1 {
		t.Errorf("%d redacted parse_error records, want 1", parseErrors)
	}
	if !strings.Contains(string(metrics), `audit_redactions_total{type="CARD"}`) {
		t.Errorf("/metrics counts no CARD")
	}
	p.stop(t)

	places := map[string][]byte{"/metrics": metrics, "log": []byte(p.stderr())}
	var served []byte
	for _, r := range recs {
		served = append(served, r.raw...)
	}
	places["/v1/audit"] = served
	for _, path := range []string{e.dbPath, e.dbPath + "-wal", e.spoolPath} {
		if b, err := os.ReadFile(path); err == nil {
			places[filepath.Base(path)] = b
		} else if !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if len(places["audit.db"]) == 0 || len(places["spool.db"]) == 0 {
		t.Fatalf("database or spool file missing")
	}
	for name, secret := range secrets {
		for place, b := range places {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s (%s) found in %s", name, secret, place)
			}
		}
	}
	requireValid(t, e.cfgPath)
}

// aadhaarGrouped completes 11 digits with their Verhoeff check digit and
// prints them 4-4-4.
func aadhaarGrouped(body string) string {
	d := [10][10]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}
	p := [8][10]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8}}
	for c := 0; c <= 9; c++ {
		s := body + string(rune('0'+c))
		x := 0
		for i := 0; i < len(s); i++ {
			x = d[x][p[i%8][s[len(s)-1-i]-'0']]
		}
		if x == 0 {
			return s[:4] + " " + s[4:8] + " " + s[8:]
		}
	}
	panic("no check digit")
}
