package main

import (
	"crypto/fips140"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/envelope"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/server"
)

// checked is what preflight read from the config's files, for run.
type checked struct {
	redactor *redact.Redactor
	signer   *chain.NoteSigner // nil without chain.signing_key_file
	tokens   []query.Token     // nil without server.listen
	tlsFiles *server.TLS       // nil without server.tls
	envelope envelope.Kind
	parse    parse.Config
	dialect  func() parse.Dialect
}

// preflight checks what run checks before it opens any part, with every
// problem found, each naming its config key: Go's FIPS mode when
// chain.require_fips, the key files, the redaction policy, the signing
// key, the tokens file, the TLS files, the envelope and the dialect. It
// opens nothing that stays open and creates no file; `run` and
// `check-config` both call it. Its errors name files and keys, never a
// key's or a token's text.
func preflight(cfg *config.Config, log *zap.Logger) (*checked, []error) {
	var c checked
	var errs []error
	bad := func(key string, err error) { errs = append(errs, fmt.Errorf("%s: %w", key, err)) }
	if cfg.Chain.RequireFIPS && !fips140.Enabled() {
		errs = append(errs, errors.New("chain.require_fips: Go's FIPS 140-3 mode is off (run with GODEBUG=fips140=on, or build with GOFIPS140=v1.0.0)"))
	}
	// With epochs, the key file may be gone once the epoch key file holds
	// the key.
	if _, err := os.Stat(epochFilePath(cfg)); cfg.Chain.EpochLength() <= 0 || err != nil {
		if _, _, err := loadKeyring(cfg); err != nil {
			errs = append(errs, keyMissingHint(cfg, err)) // names its key
		}
	}
	var err error
	if c.redactor, err = newRedactor(cfg); err != nil {
		errs = append(errs, err) // names its keys
	}
	if cfg.Chain.SigningKeyFile != "" {
		if c.signer, err = chain.LoadSigner(cfg.Chain.SignerName, cfg.Chain.SigningKeyFile); err != nil {
			bad("chain.signing_key_file", err)
		}
	}
	if cfg.Server.ListenAddr() != "" {
		if c.tokens, err = query.LoadTokens(cfg.Server.TokensFile); err != nil {
			bad("server.tokens_file", err)
		}
	}
	tlsFiles, tlsKey, err := loadTLS(cfg, log)
	if err != nil {
		bad(tlsKey, err)
	}
	c.tlsFiles = tlsFiles
	if c.envelope, err = envelope.ParseKind(cfg.Source.Envelope); err != nil {
		bad("source.envelope", err)
	}
	c.parse = parseConfig(cfg.Source)
	if cfg.Source.IdentityPath != "" {
		c.parse.Identities = parse.NewIdentities()
	}
	if c.dialect, err = parse.New(c.parse); err != nil {
		bad("source.format", err)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &c, nil
}
