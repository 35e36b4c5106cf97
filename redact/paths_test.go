package redact

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

var testHashKey = []byte("path-test-key-0123456789abcdef-0123")

func TestJSONAt_Paths(t *testing.T) {
	r := mustNew(t, Config{
		Packs: []string{"core"},
		Paths: []PathRule{
			{Path: "password"},
			{Path: "*.ssn", Action: "hash"},
			{Path: "arguments.card.*", Action: "partial"},
			{Path: "token", Action: "drop"},
			{Path: "arguments.patient", Name: "phi"},
		},
		HashKey:   testHashKey,
		HashKeyID: "k1",
	})
	for _, tc := range []struct {
		name, root, in, want string
		counts               map[string]int
	}{
		{"any depth", "arguments", `{"user":{"Password":"hunter2"},"password":12}`,
			`{"user":{"Password":"[REDACTED:PASSWORD]"},"password":"[REDACTED:PASSWORD]"}`, map[string]int{"PASSWORD": 2}},
		{"wildcard parent", "detail", `{"rec":{"ssn":"n/a"}}`,
			`{"rec":{"ssn":"` + "hmac-sha256:k1:" + hmacHex(testHashKey, "n/a") + `"}}`, map[string]int{"SSN": 1}},
		{"wildcard needs a parent", "", `{"ssn":"n/a"}`, `{"ssn":"n/a"}`, nil},
		{"root and children", "arguments", `{"card":{"number":"4111 1111 1111 1111","holder":"Dana Scully","cvv":123}}`,
			`{"card":{"number":"[REDACTED:CARD:last4=1111]","holder":"[REDACTED:CARD:last4=ully]","cvv":"[REDACTED:CARD]"}}`, map[string]int{"CARD": 3}},
		{"other root", "detail", `{"card":{"level":123}}`, `{"card":{"level":123}}`, nil},
		{"drop member", "arguments", `{"a":1,"token":"x","b":[{"token":{"deep":true}},2]}`, `{"a":1,"b":[{},2]}`, map[string]int{"TOKEN": 2}},
		{"drop first and last", "", `{"token":1,"a":2,"token":3}`, `{"a":2}`, map[string]int{"TOKEN": 2}},
		{"whole object", "arguments", `{"patient":{"name":"x","dob":"1985-03-14","tags":["a"]}}`, `{"patient":"[REDACTED:PHI]"}`, map[string]int{"PHI": 1}},
		{"no scan inside", "arguments", `{"patient":{"mail":"a@b.co"}}`, `{"patient":"[REDACTED:PHI]"}`, map[string]int{"PHI": 1}},
		{"array elements", "", `{"password":["a","b"]}`, `{"password":"[REDACTED:PASSWORD]"}`, map[string]int{"PASSWORD": 1}},
		{"root matches", "password", `"x"`, `"[REDACTED:PASSWORD]"`, map[string]int{"PASSWORD": 1}},
		{"root dropped", "token", `{"a":1}`, `null`, map[string]int{"TOKEN": 1}},
		{"escaped key", "", `{"pass\u0077ord":"x"}`, `{"password":"[REDACTED:PASSWORD]"}`, map[string]int{"PASSWORD": 1}},
		{"other values still scanned", "", `{"note":"mail a@b.co","password":"x"}`, `{"note":"mail [REDACTED:EMAIL]","password":"[REDACTED:PASSWORD]"}`, map[string]int{"EMAIL": 1, "PASSWORD": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := map[string]int{}
			got, err := r.JSONAt(nil, []byte(tc.in), tc.root, counts)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("invalid JSON %s", got)
			}
			want := tc.counts
			if want == nil {
				want = map[string]int{}
			}
			if !maps.Equal(counts, want) {
				t.Errorf("counts %v, want %v", counts, want)
			}
		})
	}
}

func TestActions(t *testing.T) {
	r := mustNew(t, Config{
		Packs:   []string{"core", "secrets", "eu"},
		Actions: map[string]string{"core": "hash", "CARD": "partial", "EMAIL": "partial", "IBAN": "drop", "secrets": "partial"},
		HashKey: testHashKey,
	})
	runStringCases(t, r, []redactCase{
		{"card last4", "card 4111 1111 1111 1111", "card [REDACTED:CARD:last4=1111]", one("CARD")},
		{"email domain", "dana@example.com", "[REDACTED:EMAIL:@example.com]", one("EMAIL")},
		{"email idn masked", "dana@exämple.de", "[REDACTED:EMAIL]", one("EMAIL")},
		{"pack action", "ip 10.1.2.3", "ip hmac-sha256:" + hmacHex(testHashKey, "10.1.2.3"), one("IPV4")},
		{"secret never partial", "token " + testGHP, "token [REDACTED:GITHUB_TOKEN]", one("GITHUB_TOKEN")},
		{"drop in text masks", "IBAN DE89370400440532013000", "IBAN [REDACTED:IBAN]", one("IBAN")},
	})
	counts := map[string]int{}
	got, err := r.JSON(nil, []byte(`{"payee":"Dana","iban":"DE89 3704 0044 0532 0130 00","list":["ok","DE89370400440532013000"]}`), counts)
	if err != nil || string(got) != `{"payee":"Dana","list":["ok"]}` || counts["IBAN"] != 2 {
		t.Errorf("drop: %s %v %v", got, err, counts)
	}
}

func TestNew_PathAndActionErrors(t *testing.T) {
	_, err := New(Config{
		Paths:   []PathRule{{Path: ""}, {Path: "a..b"}, {Path: "*.*"}, {Path: "x", Action: "burn"}, {Path: "y", Name: "bad name"}, {Path: "z", Action: "hash"}},
		Actions: map[string]string{"CARDS": "mask", "core": "shred"},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"paths[0].path: required", "paths[1].path: empty key", "paths[2].path: names no key",
		"paths[3].action: must be mask, hash, partial or drop", "paths[4].name", "hash_key: must be at least",
		"actions.CARDS: not a type or pack", "actions.core: must be",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestJSON_SplitValues(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"core"}})
	for _, tc := range []struct{ name, in, want string }{
		{"card in four fields", `{"cc1":"4111","cc2":"1111","cc3":"1111","cc4":"1111","exp":"12/27"}`,
			`{"cc1":"[REDACTED:CARD]","cc2":"[REDACTED:CARD]","cc3":"[REDACTED:CARD]","cc4":"[REDACTED:CARD]","exp":"12/27"}`},
		{"card then expiry digits", `{"a":4111,"b":1111,"c":1111,"d":1111,"m":12,"y":2027}`,
			`{"a":"[REDACTED:CARD]","b":"[REDACTED:CARD]","c":"[REDACTED:CARD]","d":"[REDACTED:CARD]","m":12,"y":2027}`},
		{"amex 4-6-5", `{"p1":"3782","p2":"822463","p3":"10005"}`, `{"p1":"[REDACTED:CARD]","p2":"[REDACTED:CARD]","p3":"[REDACTED:CARD]"}`},
		{"phone area and number", `{"name":"x","area_code":"415","number":"5550132"}`, `{"name":"x","area_code":"[REDACTED:PHONE]","number":"[REDACTED:PHONE]"}`},
		{"phone 3-3-4 numbers", `{"a":415,"b":555,"c":132}`, `{"a":415,"b":555,"c":132}`},
		{"luhn fails", `{"cc1":"4111","cc2":"1111","cc3":"1111","cc4":"1112"}`, `{"cc1":"4111","cc2":"1111","cc3":"1111","cc4":"1112"}`},
		{"not consecutive", `{"cc1":"4111","cc2":"1111","x":"y","cc3":"1111","cc4":"1111"}`, `{"cc1":"4111","cc2":"1111","x":"y","cc3":"1111","cc4":"1111"}`},
		{"counts", `{"qty":1,"sku":20,"price":1999}`, `{"qty":1,"sku":20,"price":1999}`},
	} {
		counts := map[string]int{}
		got, err := r.JSON(nil, []byte(tc.in), counts)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s:\n got %s %v\nwant %s", tc.name, got, err, tc.want)
		}
		if strings.Contains(tc.want, "REDACTED") && len(counts) != 1 {
			t.Errorf("%s: counts %v", tc.name, counts)
		}
	}
}
