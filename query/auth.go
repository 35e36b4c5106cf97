package query

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// credential is a configured token ready for comparison.
type credential struct {
	hash   [32]byte
	name   string
	role   string
	tenant string
}

// authFailure says why a request was not authenticated, for logs and the
// 401 body. It never contains the presented token.
type authFailure string

const (
	authMissing authFailure = "bearer token required"
	authUnknown authFailure = "invalid token"
)

// label is the failure's label in audit_http_unauthorized_total.
func (f authFailure) label() string {
	if f == authMissing {
		return "missing"
	}
	return "invalid"
}

// authenticate returns the credential of the request's bearer token.
//
// The presented token is hashed with SHA-256 and compared with every
// configured hash in constant time, with no early exit, so the response
// time does not depend on which token (if any) matched.
func (h *handler) authenticate(header []string) (*credential, authFailure) {
	if len(header) != 1 {
		return nil, authMissing
	}
	scheme, token, ok := strings.Cut(header[0], " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, authMissing
	}
	if cred := h.credentialOf(token); cred != nil {
		return cred, ""
	}
	return nil, authUnknown
}

// credentialOf returns the credential of token, nil if none.
func (h *handler) credentialOf(token string) *credential {
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range h.creds {
		eq := subtle.ConstantTimeCompare(sum[:], h.creds[i].hash[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil
	}
	return &h.creds[found]
}
