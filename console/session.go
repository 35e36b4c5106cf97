package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/fips-agents/audit-sidecar/query"
)

// errTooManySessions refuses a sign-in while MaxSessions are open.
var errTooManySessions = errors.New("too many open sessions")

// session is a signed-in reader: the principal of the token pasted at
// sign-in, never the token.
type session struct {
	principal *query.Principal
	csrf      string
	expires   time.Time
}

// sessions are the open sessions, by id.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	max int
	ttl time.Duration
	now func() time.Time
}

// randomID returns 32 bytes from crypto/rand in base64url.
func randomID() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// open starts a session for p and returns its id.
func (s *sessions) open(p *query.Principal) (string, *session, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// One token holds at most perToken of the sessions: whoever has a
	// token (a tenant's auditor) cannot sign in until the others are
	// locked out.
	perToken, held := max(1, s.max/64), 0
	for id, ss := range s.m {
		switch {
		case !now.Before(ss.expires):
			delete(s.m, id)
		case ss.principal.Name() == p.Name():
			held++
		}
	}
	if len(s.m) >= s.max || held >= perToken {
		return "", nil, errTooManySessions
	}
	id := randomID()
	ss := &session{principal: p, csrf: randomID(), expires: now.Add(s.ttl)}
	s.m[id] = ss
	return id, ss, nil
}

// get returns the open session of id, nil if none or expired.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	if !now.Before(ss.expires) {
		delete(s.m, id)
		return nil
	}
	return ss
}

// close ends the session of id.
func (s *sessions) close(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// sameSecret compares a form's CSRF token with the expected one in
// constant time; an empty expected value matches nothing.
func sameSecret(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
