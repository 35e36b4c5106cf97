package redact

import (
	"maps"
	"testing"
)

// redactCase is one String test: in is redacted to want, with counts.
type redactCase struct {
	name   string
	in     string
	want   string
	counts map[string]int // nil: nothing counted
}

func runStringCases(t *testing.T, r *Redactor, cases []redactCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			counts := map[string]int{}
			got := r.String(tc.in, counts)
			if got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			want := tc.counts
			if want == nil {
				want = map[string]int{}
			}
			if !maps.Equal(counts, want) {
				t.Errorf("String(%q) counts = %v, want %v", tc.in, counts, want)
			}
		})
	}
}

func mustNew(t testing.TB, cfg Config) *Redactor {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func one(t string) map[string]int { return map[string]int{t: 1} }

func TestString_Card(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"core"}})
	runStringCases(t, r, []redactCase{
		{"visa contiguous", "card 4111111111111111 ok", "card [REDACTED:CARD] ok", one("CARD")},
		{"visa spaces", "card 4111 1111 1111 1111.", "card [REDACTED:CARD].", one("CARD")},
		{"visa dashes", "4111-1111-1111-1111", "[REDACTED:CARD]", one("CARD")},
		{"mastercard", "mc 5555555555554444", "mc [REDACTED:CARD]", one("CARD")},
		{"mastercard 2-series", "mc 2223003122003222", "mc [REDACTED:CARD]", one("CARD")},
		{"amex contiguous", "amex 378282246310005", "amex [REDACTED:CARD]", one("CARD")},
		{"amex 4-6-5", "amex 3782 822463 10005", "amex [REDACTED:CARD]", one("CARD")},
		{"discover", "6011111111111117", "[REDACTED:CARD]", one("CARD")},
		{"jcb", "3530111333300000", "[REDACTED:CARD]", one("CARD")},
		{"diners", "diners 30569309025904", "diners [REDACTED:CARD]", one("CARD")},
		{"visa 13", "4222222222222", "[REDACTED:CARD]", one("CARD")},
		{"unionpay", "6212345678901232", "[REDACTED:CARD]", one("CARD")},
		{"maestro", "6759649826438453", "[REDACTED:CARD]", one("CARD")},
		{"mir", "2200123456789019", "[REDACTED:CARD]", one("CARD")},
		{"rupay", luhnComplete("608123456789012"), "[REDACTED:CARD]", one("CARD")},
		{"rupay luhn invalid", "6081234567890123", "6081234567890123", nil},
		{"underscore is a separator", "acct_4111111111111111", "acct_[REDACTED:CARD]", one("CARD")},
		{"card then number", "4111 1111 1111 1111 2024", "[REDACTED:CARD] 2024", one("CARD")},
		{"number then card", "item 2 4111 1111 1111 1111", "item 2 [REDACTED:CARD]", one("CARD")},
		{"inside a tracking number", "9400 4111 1111 1111 1111 98", "9400 4111 1111 1111 1111 98", nil},
		{"two cards", "4111111111111111,5555555555554444", "[REDACTED:CARD],[REDACTED:CARD]", map[string]int{"CARD": 2}},
		{"in json text", `{"card":"4111111111111111"}`, `{"card":"[REDACTED:CARD]"}`, one("CARD")},

		{"luhn invalid order number", "order 4111111111111112 shipped", "order 4111111111111112 shipped", nil},
		{"luhn invalid grouped", "4111 1111 1111 1112", "4111 1111 1111 1112", nil},
		{"unknown brand", "ref 9111111111111119", "ref 9111111111111119", nil},
		{"unix nanos", "ts 1717318800001261673", "ts 1717318800001261673", nil},
		{"decimal", "delta 4111111111111111.25 and 0.4111111111111111", "delta 4111111111111111.25 and 0.4111111111111111", nil},
		{"sentence end", "card 4111111111111111.", "card [REDACTED:CARD].", one("CARD")},
		{"inside hex", "sha 4a4111111111111111b", "sha 4a4111111111111111b", nil},
		{"inside hex left", "sha a4111111111111111", "sha a4111111111111111", nil},
		{"grouped glued to word", "card4111 1111 1111 1111", "card[REDACTED:CARD]", one("CARD")},
		{"longer digit run", "41111111111111110000000", "41111111111111110000000", nil},
		{"mixed separators", "4111 1111-1111 1111", "4111 1111-1111 1111", nil},
	})
}

func TestString_SSN(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"core"}})
	runStringCases(t, r, []redactCase{
		{"plain", "SSN 123-45-6789.", "SSN [REDACTED:SSN].", one("SSN")},
		{"start", "078-05-1120 is famous", "[REDACTED:SSN] is famous", one("SSN")},
		{"colon", "ssn:123-45-6789", "ssn:[REDACTED:SSN]", one("SSN")},
		{"area 000", "000-12-3456", "000-12-3456", nil},
		{"area 666", "666-12-3456", "666-12-3456", nil},
		{"area 9xx", "900-12-3456", "900-12-3456", nil},
		{"group 00", "123-00-4567", "123-00-4567", nil},
		{"serial 0000", "123-45-0000", "123-45-0000", nil},
		{"longer run left", "1123-45-6789", "1123-45-6789", nil},
		{"longer run right", "123-45-67890", "123-45-67890", nil},
		{"glued to a word", "ssn123-45-6789", "ssn[REDACTED:SSN]", one("SSN")},
		{"inside dashed number", "12-123-45-67890", "12-123-45-67890", nil},
		{"iso date", "2025-06-02", "2025-06-02", nil},
	})
}

func TestString_Phone(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"core"}})
	runStringCases(t, r, []redactCase{
		{"parens", "call (415) 555-0132 now", "call [REDACTED:PHONE] now", one("PHONE")},
		{"parens no space", "(415)555-0132", "[REDACTED:PHONE]", one("PHONE")},
		{"dashes", "415-555-0132", "[REDACTED:PHONE]", one("PHONE")},
		{"dots", "phone 415.555.0132.", "phone [REDACTED:PHONE].", one("PHONE")},
		{"spaces", "415 555 0132", "[REDACTED:PHONE]", one("PHONE")},
		{"plus one", "+1 415 555 0132", "[REDACTED:PHONE]", one("PHONE")},
		{"plus one parens", "+1 (415) 555-0132", "[REDACTED:PHONE]", one("PHONE")},
		{"one dash", "1-800-555-0132", "[REDACTED:PHONE]", one("PHONE")},
		{"e164", "+14155550132", "[REDACTED:PHONE]", one("PHONE")},
		{"e164 uk spaced", "ring +44 20 7946 0958 today", "ring [REDACTED:PHONE] today", one("PHONE")},
		{"e164 de", "+49301234567", "[REDACTED:PHONE]", one("PHONE")},
		{"dash digits any", "123-456-7890", "[REDACTED:PHONE]", one("PHONE")},

		{"longer digit run", "1415-555-0132", "1415-555-0132", nil},
		{"trailing digits", "415-555-01321", "415-555-01321", nil},
		{"small numbers in prose", "sizes 100 200 3000", "sizes 100 200 3000", nil},
		{"e164 too short", "+1234567", "+1234567", nil},
		{"e164 too long", "+1234567890123456", "+1234567890123456", nil},
		{"arithmetic", "3+14155550132", "3+14155550132", nil},
		{"inside digit run", "id9415-555-0132", "id9415-555-0132", nil},
		{"glued to words", "tel415-555-0132ext7", "tel[REDACTED:PHONE]ext7", one("PHONE")},
	})
}

func TestString_IPv4(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"core"}})
	runStringCases(t, r, []redactCase{
		{"plain", "client IP 10.1.2.3.", "client IP [REDACTED:IPV4].", one("IPV4")},
		{"port", "192.168.0.1:8080", "[REDACTED:IPV4]:8080", one("IPV4")},
		{"cidr", "10.0.0.0/8", "[REDACTED:IPV4]/8", one("IPV4")},
		{"edges", "0.0.0.1 255.255.255.254", "[REDACTED:IPV4] [REDACTED:IPV4]", map[string]int{"IPV4": 2}},
		{"unspecified, broadcast and loopback stay", "0.0.0.0 255.255.255.255 127.0.0.1 127.0.1.1", "0.0.0.0 255.255.255.255 127.0.0.1 127.0.1.1", nil},
		{"bracketed", "[8.8.8.8]", "[[REDACTED:IPV4]]", one("IPV4")},

		{"octet too big", "256.1.1.1", "256.1.1.1", nil},
		{"version 5 parts", "version 1.2.3.4.5", "version 1.2.3.4.5", nil},
		{"oid", "oid 1.3.6.1.4.1", "oid 1.3.6.1.4.1", nil},
		{"semver", "v1.2.3", "v1.2.3", nil},
		{"three parts", "1.2.3", "1.2.3", nil},
		{"preceded by digit dot", "9.10.0.0.1", "9.10.0.0.1", nil},
		{"glued to a word", "ip10.0.0.1", "ip[REDACTED:IPV4]", one("IPV4")},
		{"section number", "RFC 5280, section 4.2.2.1 says", "RFC 5280, section 4.2.2.1 says", nil},
		{"version word further away", "version 2 runs on 10.0.0.5", "version 2 runs on [REDACTED:IPV4]", one("IPV4")},
		{"version colon", "version: 1.2.3.4", "version: 1.2.3.4", nil},
		{"rfc section", "see rfc5246#section-6.2.3.2.", "see rfc5246#section-6.2.3.2.", nil},
		{"paragraph sign", "§ 6.2.3.2", "§ 6.2.3.2", nil},
		{"four-part version", "version 10.2.0.1", "version 10.2.0.1", nil},
		{"v prefix", "v1.2.3.4", "v1.2.3.4", nil},
		{"package revision", "binutils (2.10.0.27-1) unstable", "binutils (2.10.0.27-1) unstable", nil},
		{"package revision with dots", "binutils (2.10.0.27-0.cvs20001001)", "binutils (2.10.0.27-0.cvs20001001)", nil},
		{"package suffix", "1.2.5.1~rc2 and 3.6.2.1+dfsg", "1.2.5.1~rc2 and 3.6.2.1+dfsg", nil},
		{"range", "10.0.0.1-10.0.0.9", "[REDACTED:IPV4]-[REDACTED:IPV4]", map[string]int{"IPV4": 2}},
		{"four digit octet", "1000.1.1.1", "1000.1.1.1", nil},
	})
}

func TestString_IPv6(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"core"}})
	runStringCases(t, r, []redactCase{
		{"full", "ip 2001:0db8:85a3:0000:0000:8a2e:0370:7334 x", "ip [REDACTED:IPV6] x", one("IPV6")},
		{"compressed", "from 2001:db8::1.", "from [REDACTED:IPV6].", one("IPV6")},
		{"link local", "fe80::1ff:fe23:4567:890a%eth0", "[REDACTED:IPV6]%eth0", one("IPV6")},
		{"loopback stays", "::1 :: ::ffff:127.0.0.1", "::1 :: ::ffff:127.0.0.1", nil},
		{"bracket port", "http://[2001:db8::1]:8080/", "http://[[REDACTED:IPV6]]:8080/", one("IPV6")},
		{"trailing colon", "addr 2001:db8::7: refused", "addr [REDACTED:IPV6]: refused", one("IPV6")},
		// The embedded quad is an IPv4 match too; IPV4 ranks first.
		{"mapped v4", "::ffff:192.0.2.1", "[REDACTED:IPV6]", one("IPV6")},

		{"time", "at 10:30:00 today", "at 10:30:00 today", nil},
		{"iso timestamp", "2025-06-02T09:00:00.001261673Z", "2025-06-02T09:00:00.001261673Z", nil},
		{"mac address", "00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5e", nil},
		{"cpp scope", "std::vector and a::b", "std::vector and a::b", nil},
		{"no digits", "dead::beef", "dead::beef", nil},
		{"two double colons", "1::2::3", "1::2::3", nil},
		{"nine groups", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8:9", nil},
		{"group too long", "2001:db8::12345", "2001:db8::12345", nil},
	})
}

func TestString_Email(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"core"}})
	runStringCases(t, r, []redactCase{
		{"plain", "mail dana@example.com now", "mail [REDACTED:EMAIL] now", one("EMAIL")},
		{"dots plus", "first.last+tag@sub.example.co.uk.", "[REDACTED:EMAIL].", one("EMAIL")},
		{"angle", "<a_b@x.io>", "<[REDACTED:EMAIL]>", one("EMAIL")},
		{"key value", "to=jdoe@acme-corp.com&x=1", "to=[REDACTED:EMAIL]&x=1", one("EMAIL")},
		{"two", "a@b.co,c@d.org", "[REDACTED:EMAIL],[REDACTED:EMAIL]", map[string]int{"EMAIL": 2}},
		{"unicode local", "josé@example.com", "[REDACTED:EMAIL]", one("EMAIL")},
		{"idn domain", "x@bücher.de", "[REDACTED:EMAIL]", one("EMAIL")},
		{"git remote stays", "git@github.com:org/repo", "git@github.com:org/repo", nil},
		{"address before a colon", "mail dana@example.com: ok", "mail [REDACTED:EMAIL]: ok", one("EMAIL")},

		{"no tld", "user@localhost", "user@localhost", nil},
		{"mention", "ping @team", "ping @team", nil},
		{"numeric tld", "a@1.2", "a@1.2", nil},
		{"empty local", "@example.com", "@example.com", nil},
		{"decorator", "@Override", "@Override", nil},
	})
}

func TestString_NoPII(t *testing.T) {
	r := mustNew(t, Config{})
	for _, s := range []string{
		"",
		"550e8400-e29b-41d4-a716-446655440000",
		"12345678-1234-1234-1234-123456789012",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"2025-06-02T09:00:00.001261673Z",
		"2025-06-02 10:30:00",
		"evt_fe29497f88973254",
		"trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
		"claude-3-5-haiku-20241022",
		"go1.26.8 version 1.2.3.4.5 build 20241022.1",
		"The customer asked about the basic plan and the bearer of the news.",
		"Authorization required: please log in",
		"price 1,234.56 qty 12 total 14814.72",
	} {
		counts := map[string]int{}
		if got := r.String(s, counts); got != s || len(counts) != 0 {
			t.Errorf("String(%q) = %q, counts %v; want unchanged", s, got, counts)
		}
	}
}

func TestString_Overlap(t *testing.T) {
	r := mustNew(t, Config{Rules: []Rule{{Name: "order-id", Pattern: `ORD-\d+`}}})
	runStringCases(t, r, []redactCase{
		// The phone number inside the local part is part of the address:
		// the merged span is labelled by the detection containing the other.
		{"phone in email", "x 415-555-0132@example.com y", "x [REDACTED:EMAIL] y", one("EMAIL")},
		{"ipv6 ending in a quad", "::ffff:192.0.2.7", "[REDACTED:IPV6]", one("IPV6")},
		{"custom beside builtin", "ORD-42 4111111111111111", "[REDACTED:ORDER_ID] [REDACTED:CARD]",
			map[string]int{"ORDER_ID": 1, "CARD": 1}},
		{"custom overlapping card", "ORD-4111111111111111", "[REDACTED:CARD]", one("CARD")},
	})
}
