package query

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// RoleAdmin is the only role that may read /v1/audit.
const RoleAdmin = "admin"

// Token is one configured API token. The token itself is never stored:
// SHA256 is the hex SHA-256 of the bearer token. A token with a Tenant
// only sees that tenant's records.
type Token struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
	Role   string `yaml:"role"`
	Tenant string `yaml:"tenant"`
}

type tokensFile struct {
	Tokens []Token `yaml:"tokens"`
}

// LoadTokens reads a tokens file:
//
//	tokens:
//	  - {name: ops, sha256: "<hex sha256 of the token>", role: admin}
//	  - {name: acme-auditor, sha256: "<hex>", role: admin, tenant: acme}
//
// Decoding is strict: unknown keys, a second YAML document and an empty
// list are errors. Every problem is reported, joined, each naming its key
// (tokens[1].sha256: must be 64 hex characters). Only the role admin is
// accepted. Errors never contain hashes or other values from the file.
func LoadTokens(path string) ([]Token, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f tokensFile
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode tokens file %q: %s", path, scrubYAMLError(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode tokens file %q: more than one YAML document", path)
	}
	if err := validateTokens(f.Tokens, true); err != nil {
		return nil, fmt.Errorf("tokens file %q: %w", path, err)
	}
	return f.Tokens, nil
}

// backticked matches the value excerpts that go.yaml.in/yaml puts in type
// errors (`abcdefg...`), which may be part of a token hash.
var backticked = regexp.MustCompile("`[^`]*`")

func scrubYAMLError(err error) string {
	return backticked.ReplaceAllString(err.Error(), "<value>")
}

// validateTokens checks every token and joins the problems. strictRole
// rejects roles other than admin (the file); NewHandler accepts any
// non-empty role and denies the others at request time.
func validateTokens(tokens []Token, strictRole bool) error {
	var errs []error
	if len(tokens) == 0 && strictRole {
		errs = append(errs, errors.New("tokens: at least one token required"))
	}
	names := make(map[string]int, len(tokens))
	hashes := make(map[[32]byte]int, len(tokens))
	for i, t := range tokens {
		key := fmt.Sprintf("tokens[%d]", i)
		switch prev, dup := names[t.Name]; {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: required", key))
		case dup:
			errs = append(errs, fmt.Errorf("%s.name: duplicates tokens[%d].name", key, prev))
		default:
			names[t.Name] = i
		}
		if sum, ok := decodeHash(t.SHA256); !ok {
			errs = append(errs, fmt.Errorf("%s.sha256: must be 64 hex characters", key))
		} else if prev, dup := hashes[sum]; dup {
			errs = append(errs, fmt.Errorf("%s.sha256: duplicates tokens[%d].sha256", key, prev))
		} else {
			hashes[sum] = i
		}
		switch {
		case strictRole && t.Role != RoleAdmin:
			errs = append(errs, fmt.Errorf("%s.role: must be %s", key, RoleAdmin))
		case t.Role == "":
			errs = append(errs, fmt.Errorf("%s.role: required", key))
		}
	}
	return errors.Join(errs...)
}

func decodeHash(s string) ([32]byte, bool) {
	var sum [32]byte
	if len(s) != 2*len(sum) {
		return sum, false
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return sum, false
	}
	return sum, true
}
