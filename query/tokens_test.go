package query

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeTokens(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadTokens_Valid(t *testing.T) {
	h1, h2 := hashOf("one"), strings.ToUpper(hashOf("two"))
	path := writeTokens(t, `tokens:
  - {name: ops, sha256: "`+h1+`", role: admin}
  - {name: acme-auditor, sha256: "`+h2+`", role: admin, tenant: acme}
`)
	got, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{
		{Name: "ops", SHA256: h1, Role: "admin"},
		{Name: "acme-auditor", SHA256: h2, Role: "admin", Tenant: "acme"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := NewHandler(Config{Store: newFakeStore(nil), Tokens: got}); err != nil {
		t.Fatalf("NewHandler rejects loaded tokens: %v", err)
	}
}

func TestLoadTokens_Invalid(t *testing.T) {
	h := hashOf("the-token")
	tests := []struct {
		name, content string
		want          []string
	}{
		{"empty file", "", []string{"tokens: at least one token required"}},
		{"empty list", "tokens: []\n", []string{"tokens: at least one token required"}},
		{"unknown top key", "tokens: []\nusers: []\n", []string{"users"}},
		{"unknown token key", "tokens:\n  - {name: a, sha265: \"" + h + "\", role: admin}\n", []string{"sha265"}},
		{"short hash", "tokens:\n  - {name: a, sha256: \"" + h + "\", role: admin}\n  - {name: b, sha256: \"" + h[:63] + "\", role: admin}\n",
			[]string{"tokens[1].sha256: must be 64 hex characters"}},
		{"not hex", "tokens:\n  - {name: a, sha256: \"" + strings.Repeat("zz", 32) + "\", role: admin}\n",
			[]string{"tokens[0].sha256: must be 64 hex characters"}},
		{"missing hash", "tokens:\n  - {name: a, role: admin}\n", []string{"tokens[0].sha256: must be 64 hex characters"}},
		{"role reader", "tokens:\n  - {name: a, sha256: \"" + h + "\", role: reader}\n", []string{"tokens[0].role: must be admin"}},
		{"missing role", "tokens:\n  - {name: a, sha256: \"" + h + "\"}\n", []string{"tokens[0].role: must be admin"}},
		{"missing name", "tokens:\n  - {sha256: \"" + h + "\", role: admin}\n", []string{"tokens[0].name: required"}},
		{"duplicate name", "tokens:\n  - {name: a, sha256: \"" + h + "\", role: admin}\n  - {name: a, sha256: \"" + hashOf("x") + "\", role: admin}\n",
			[]string{"tokens[1].name: duplicates tokens[0].name"}},
		{"duplicate hash", "tokens:\n  - {name: a, sha256: \"" + h + "\", role: admin}\n  - {name: b, sha256: \"" + strings.ToUpper(h) + "\", role: admin}\n",
			[]string{"tokens[1].sha256: duplicates tokens[0].sha256"}},
		{"every problem joined", "tokens:\n  - {name: a, sha256: \"" + h[:10] + "\", role: admin}\n  - {name: a, sha256: \"" + h + "\", role: root}\n",
			[]string{"tokens[0].sha256: must be 64 hex characters", "tokens[1].name: duplicates tokens[0].name", "tokens[1].role: must be admin"}},
		{"hash where list expected", "tokens: " + h + "\n", []string{"decode tokens file"}},
		{"hash in a wrong-type name", "tokens:\n  - {name: [" + h + "], sha256: \"" + h + "\", role: admin}\n", []string{"decode tokens file"}},
		{"two documents", "tokens:\n  - {name: a, sha256: \"" + h + "\", role: admin}\n---\ntokens: []\n", []string{"more than one YAML document"}},
		{"not yaml", "tokens: [\n", []string{"decode tokens file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadTokens(writeTokens(t, tt.content))
			if err == nil {
				t.Fatal("LoadTokens succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			msg := strings.ToLower(err.Error())
			if strings.Contains(msg, h[:7]) || strings.Contains(msg, hashOf("x")[:7]) {
				t.Errorf("error %q contains part of a hash", err)
			}
		})
	}
}

func TestLoadTokens_MissingFile(t *testing.T) {
	if _, err := LoadTokens(filepath.Join(t.TempDir(), "absent.yaml")); err == nil {
		t.Fatal("LoadTokens succeeded on a missing file")
	}
}
