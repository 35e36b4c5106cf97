package redact

import (
	"strings"
	"testing"
)

// TestNames_Cases: the rules of the names pack one by one, with the
// look-alikes next to them and hostile inputs (cut short, unbalanced,
// invalid UTF-8) that must neither panic nor be taken.
func TestNames_Cases(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"names"}})
	for _, tc := range []struct{ in, want string }{
		{"Dear Dana,", "Dear [REDACTED:NAME],"},
		{"Dear Sir or Madam,", "Dear Sir or Madam,"},
		{"Hi team, Hi there!", "Hi team, Hi there!"},
		{"Dr. Okafor will call", "Dr. [REDACTED:NAME] will call"},
		{"Mr.", "Mr."},
		{"Dear", "Dear"},
		{"Regards,\nJean-Luc Picard", "Regards,\n[REDACTED:NAME]"},
		{"Regards to the ops team", "Regards to the ops team"},
		{"-- Priya", "-- [REDACTED:NAME]"},
		{"- Deploy finished", "- Deploy finished"},
		{"the patient Robert Chen", "the patient [REDACTED:NAME]"},
		{"Patient ID 4432", "Patient ID 4432"},
		{`"Whitfield, Dana" <dana@example.com>`, `"[REDACTED:NAME]" <dana@example.com>`},
		{"GitHub <noreply@github.com>", "GitHub <noreply@github.com>"},
		{"<<<<@", "<<<<@"},
		{`"<@>"`, `"<@>"`},
		{"Michael Johnson approved", "[REDACTED:NAME] approved"},
		{"Jasmine Core and Amber Flux", "Jasmine Core and Amber Flux"},
		{"Siobhan O'Brien", "[REDACTED:NAME]"},
		{"O'", "O'"},
		{"221B Baker Street, London NW1 6XE", "[REDACTED:ADDRESS]"},
		{"127 Main St, Boston, MA 02118-1234", "[REDACTED:ADDRESS]"},
		{"3 Main branches, func Main()", "3 Main branches, func Main()"},
		{"Version 2 Street Fighter", "Version 2 Street Fighter"},
		{"12 rue de Rivoli, 75001 Paris", "[REDACTED:ADDRESS]"},
		{"Hauptstraße 5, 10115 Berlin", "[REDACTED:ADDRESS]"},
		{"Hauptstraße", "Hauptstraße"},
		{"via Roma", "via Roma"},
		{"via GitHub Actions", "via GitHub Actions"},
		{"Springfield, IL 62704", "[REDACTED:ADDRESS]"},
		{"region CA 12345", "region CA 12345"},
		{"12345", "12345"},
		{"1 Infinite Loop", "[REDACTED:ADDRESS]"},
		{"9 ", "9 "},
		{"Dear \xff\xfe,", "Dear \xff\xfe,"},
		{"Hi \xc3", "Hi \xc3"},
	} {
		if got := r.String(tc.in, nil); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestNames_Keys: values under keys naming a person or an address, and
// keys that name things.
func TestNames_Keys(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"names"}})
	for _, tc := range []struct{ in, want string }{
		{`{"full_name":"dana whitfield"}`, `{"full_name":"dana whitfield"}`},
		{`{"full_name":"Dana Whitfield"}`, `{"full_name":"[REDACTED:NAME]"}`},
		{`{"First-Name":"Zoë"}`, `{"First-Name":"[REDACTED:NAME]"}`},
		{`{"name":"Production Database"}`, `{"name":"Production Database"}`},
		{`{"name":"get_weather"}`, `{"name":"get_weather"}`},
		{`{"name":"Maria Garcia"}`, `{"name":"[REDACTED:NAME]"}`},
		{`{"patient":{"name":"Kenji Tanaka","mrn":"x"}}`, `{"patient":{"name":"[REDACTED:NAME]","mrn":"x"}}`},
		{`{"shipping_address":"4 Privet Drive, Little Whinging"}`, `{"shipping_address":"[REDACTED:ADDRESS]"}`},
		{`{"ip_address":"10.0.0.1 east"}`, `{"ip_address":"10.0.0.1 east"}`}, {`{"address":"10.0.0.1:8080"}`, `{"address":"10.0.0.1:8080"}`},
		{`{"address":"http://10.0.0.1:8080/x y"}`, `{"address":"http://10.0.0.1:8080/x y"}`},
		{`{"address":"Hauptstraße 5"}`, `{"address":"[REDACTED:ADDRESS]"}`},
	} {
		got, err := r.JSON(nil, []byte(tc.in), nil)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %s (%v), want %s", tc.in, got, err, tc.want)
		}
	}
}

// TestNames_KeyBlanks: under a name key, a name whose words are
// separated or surrounded by other white space than ' ' (a tab, a
// no-break space, a line separator) is a name as well.
func TestNames_KeyBlanks(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"names"}})
	for _, tc := range []struct{ in, want string }{
		{`{"full_name":"Quorra\tVantablack"}`, `{"full_name":"[REDACTED:NAME]"}`},
		{`{"full_name":"Quorra\u00a0Vantablack"}`, `{"full_name":"[REDACTED:NAME]"}`},
		{`{"full_name":"Quorra\u2028Vantablack"}`, `{"full_name":"[REDACTED:NAME]"}`},
		{`{"full_name":"\tQuorra Vantablack"}`, `{"full_name":"\t[REDACTED:NAME]"}`},
		{`{"full_name":"\u00a0Quorra Vantablack\u3000"}`, `{"full_name":"\u00a0[REDACTED:NAME]\u3000"}`},
		{`{"full_name":"Quorra Vantablack\n"}`, `{"full_name":"[REDACTED:NAME]\n"}`},
		{`{"full_name":"\t\u00a0"}`, `{"full_name":"\t\u00a0"}`},
		{`{"full_name":"Quorra\tVantablack\t2"}`, `{"full_name":"Quorra\tVantablack\t2"}`},
	} {
		got, err := r.JSON(nil, []byte(tc.in), nil)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %s (%v), want %s", tc.in, got, err, tc.want)
		}
	}
}

// TestNames_OffByDefault: the default packs find no name or address;
// hipaa and gdpr do.
func TestNames_OffByDefault(t *testing.T) {
	in := "Dear Dana Whitfield, we ship to 221B Baker Street."
	if got := mustNew(t, Config{}).String(in, nil); got != in {
		t.Errorf("default packs changed %q", in)
	}
	for _, p := range []string{"hipaa", "gdpr"} {
		counts := map[string]int{}
		mustNew(t, Config{Packs: []string{p}}).String(in, counts)
		if counts[TypeName] != 1 || counts[TypeAddress] != 1 {
			t.Errorf("%s: counts %v", p, counts)
		}
	}
	if strings.Contains(strings.Join(PackTypes("core"), ","), TypeName) {
		t.Error("core holds NAME")
	}
}
