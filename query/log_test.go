package query

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestHandler_TokensNeverLogged(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	store := newFakeStore(genRecords(50))
	h := newTestHandler(t, Config{Store: store, Logger: logger})
	failing := newTestHandler(t, Config{Store: &fakeStore{err: errDiskOnFire}, Logger: logger})

	secrets := []string{adminToken, acmeToken, readerToken, "unknown-token-5e6f7a8b"}
	requests := []struct {
		h      http.Handler
		target string
		auth   string
	}{
		{h, "/v1/audit", "Bearer " + adminToken},
		{h, "/v1/audit?limit=5000", "Bearer " + adminToken},
		{h, "/v1/audit?tenant=globex", "Bearer " + acmeToken},
		{h, "/v1/audit", "Bearer " + acmeToken},
		{h, "/v1/audit", "Bearer " + readerToken},
		{h, "/v1/audit", "Bearer unknown-token-5e6f7a8b"},
		{h, "/v1/audit", "Basic " + adminToken},
		{h, "/v1/audit", adminToken},
		{failing, "/v1/audit", "Bearer " + adminToken},
	}
	for _, r := range requests {
		do(r.h, http.MethodGet, r.target, map[string]string{"Authorization": r.auth})
	}

	entries := logs.All()
	if len(entries) < len(requests) {
		t.Fatalf("%d log entries for %d requests", len(entries), len(requests))
	}
	sawTokenName := false
	for _, e := range entries {
		enc := zapcore.NewMapObjectEncoder()
		for _, f := range e.Context {
			f.AddTo(enc)
		}
		text := e.Message + " " + fmt.Sprint(enc.Fields)
		for _, s := range secrets {
			for _, leak := range []string{s, hashOf(s)} {
				if strings.Contains(text, leak) {
					t.Errorf("log entry %q contains a token or its hash: %s", e.Message, text)
				}
			}
		}
		if strings.IndexFunc(e.Message, unicode.IsUpper) >= 0 {
			t.Errorf("log message %q is not lowercase", e.Message)
		}
		if enc.Fields["token"] == "ops" {
			sawTokenName = true
		}
	}
	if !sawTokenName {
		t.Error("no log entry names the token ops")
	}
	if logs.FilterMessage("audit query failed").Len() != 1 {
		t.Error("store failure not logged")
	}
}
