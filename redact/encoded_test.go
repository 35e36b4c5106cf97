package redact

import "testing"

func TestString_Encoded(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"core", "secrets"}})
	runStringCases(t, r, []redactCase{
		{"query string", "GET /u?email=dana%40example.com&x=1", "GET /u?email=[REDACTED:EMAIL]&x=1", one("EMAIL")},
		{"form body", "card=4111+1111+1111+1111&name=Dana+Scully", "card=[REDACTED:CARD]&name=Dana+Scully", one("CARD")},
		{"encoded twice", "next=%2Fcb%3Fmail%3Ddana%2540example.com", "next=%2Fcb%3Fmail%3D[REDACTED:EMAIL]", one("EMAIL")},
		{"unicode escapes", `{\"mail\":\"dana\u0040example.com\"}`, `{\"mail\":\"[REDACTED:EMAIL]\"}`, one("EMAIL")},
		{"escaped digits", `ssn \u0030\u0037\u0038-05-1120`, `ssn [REDACTED:SSN]`, one("SSN")},
		{"plain and encoded", "a@b.co and c%40d.co", "[REDACTED:EMAIL] and [REDACTED:EMAIL]", map[string]int{"EMAIL": 2}},
		{"prose plus", "1+1 = 2, 415+555", "1+1 = 2, 415+555", nil},
		{"encoded path left alone", "/search?q=red%20shoes&sort=price%3Aasc", "/search?q=red%20shoes&sort=price%3Aasc", nil},
		{"bad escapes", `%zz \u12 %4`, `%zz \u12 %4`, nil},
		{"bearer encoded", "Authorization%3A%20Bearer%20abc123xyz", "Authorization%3A%20Bearer%20[REDACTED:AUTH]", one("AUTH")},
	})
}

func TestJSON_Nested(t *testing.T) {
	r := mustNew(t, Config{
		Packs: []string{"core", "secrets", "us"},
		Paths: []PathRule{{Path: "arguments.password"}},
	})
	for _, tc := range []struct{ name, root, in, want string }{
		{"arguments as a JSON string", "", `{"tool":"crm","arguments":"{\"to\": \"dana@example.com\", \"n\": 1}"}`,
			`{"tool":"crm","arguments":"{\"to\":\"[REDACTED:EMAIL]\",\"n\":1}"}`},
		{"path continues inside", "arguments", `"{\"password\":\"hunter2\",\"x\":[1,2]}"`,
			`"{\"password\":\"[REDACTED:PASSWORD]\",\"x\":[1,2]}"`},
		{"key context inside", "", `{"a":"{\"dob\":\"1985-03-14\"}"}`, `{"a":"{\"dob\":\"[REDACTED:DOB]\"}"}`},
		{"escaped inside", "", `{"a":"{\"m\":\"dana\\u0040example.com\"}"}`, `{"a":"{\"m\":\"[REDACTED:EMAIL]\"}"}`},
		{"nothing found keeps text", "", `{"a":"{ \"x\" : 1 }"}`, `{"a":"{ \"x\" : 1 }"}`},
		{"not JSON is text", "", `{"a":"{ mail a@b.co }"}`, `{"a":"{ mail [REDACTED:EMAIL] }"}`},
		{"twice nested", "", `{"a":"{\"b\":\"{\\\"c\\\":\\\"a@b.co\\\"}\"}"}`, `{"a":"{\"b\":\"{\\\"c\\\":\\\"[REDACTED:EMAIL]\\\"}\"}"}`},
		{"pem in nested", "", `{"a":"{\"k\":\"-----BEGIN EC PRIVATE KEY-----\\nMHc\\n-----END EC PRIVATE KEY-----\"}"}`, `{"a":"{\"k\":\"[REDACTED:PRIVATE_KEY]\"}"}`},
		{"card as a number", "", `{"card":4111111111111111,"qty":123456789,"big":41111111111111111111}`,
			`{"card":"[REDACTED:CARD]","qty":123456789,"big":41111111111111111111}`},
		{"ssn-like number stays", "", `{"n":-4111111111111111,"f":4111111111111111.5}`, `{"n":-4111111111111111,"f":4111111111111111.5}`},
		{"url-encoded value", "", `{"url":"https://x.test/?mail=dana%40example.com"}`, `{"url":"https://x.test/?mail=[REDACTED:EMAIL]"}`},
	} {
		got, err := r.JSONAt(nil, []byte(tc.in), tc.root, nil)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s:\n got %s %v\nwant %s", tc.name, got, err, tc.want)
		}
	}
}
