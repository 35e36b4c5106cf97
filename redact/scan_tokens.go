package redact

import "strings"

// Vendor tokens with a fixed prefix (type API_KEY), table-driven. The
// public rule sets of secret scanners list these formats; each entry here
// is a prefix ending in '_', '-' or '.', the class of the body and its
// length. The scanners that stop at those bytes (scanUnderKeys,
// scanDashKeys, scanDotKeys) look the byte before the separator up in a
// table, so a separator costs one lookup unless a prefix ends there.

// Body classes.
const (
	bAlnum    = iota // A-Z a-z 0-9
	bHex             // 0-9 a-f A-F
	bB64URL          // alnum - _
	bB64             // alnum + / = (standard base64 with padding)
	bDotted          // alnum - _ . (segments joined by dots)
	bAlpha           // A-Z a-z
	bUpperNum        // A-Z 0-9
)

type tokenFormat struct {
	prefix   string
	body     uint8
	min, max int // body length; max 0: unbounded
	// mixed: the first min bytes hold a digit, a capital and a small
	// letter (random key material; words and identifiers do not).
	mixed bool
	// start: the body starts with this literal (PyPI's macaroon header).
	start string
}

var tokenFormats = []tokenFormat{
	// '_'
	{prefix: "whsec_", body: bB64, min: 32},                          // Stripe webhook signing secret
	{prefix: "shpat_", body: bHex, min: 32, max: 32},                 // Shopify access token
	{prefix: "shpca_", body: bHex, min: 32, max: 32},                 // Shopify custom app
	{prefix: "shppa_", body: bHex, min: 32, max: 32},                 // Shopify private app
	{prefix: "shpss_", body: bHex, min: 32, max: 32},                 // Shopify shared secret
	{prefix: "dop_v1_", body: bHex, min: 64, max: 64},                // DigitalOcean PAT
	{prefix: "doo_v1_", body: bHex, min: 64, max: 64},                // DigitalOcean OAuth
	{prefix: "dor_v1_", body: bHex, min: 64, max: 64},                // DigitalOcean refresh
	{prefix: "hf_", body: bAlpha, min: 30},                           // Hugging Face user token
	{prefix: "api_org_", body: bAlpha, min: 30},                      // Hugging Face org token
	{prefix: "lin_api_", body: bAlnum, min: 40},                      // Linear
	{prefix: "glc_", body: bB64, min: 32},                            // Grafana Cloud
	{prefix: "glsa_", body: bB64URL, min: 32},                        // Grafana service account
	{prefix: "sntrys_", body: bB64, min: 50},                         // Sentry org token
	{prefix: "sntryu_", body: bHex, min: 64, max: 64},                // Sentry user token
	{prefix: "dckr_pat_", body: bB64URL, min: 24},                    // Docker Hub PAT
	{prefix: "dckr_oat_", body: bB64URL, min: 24},                    // Docker Hub org token
	{prefix: "lsv2_pt_", body: bB64URL, min: 32},                     // LangSmith personal
	{prefix: "lsv2_sk_", body: bB64URL, min: 32},                     // LangSmith service
	{prefix: "gsk_", body: bAlnum, min: 48, mixed: true},             // Groq
	{prefix: "r8_", body: bAlnum, min: 36, mixed: true},              // Replicate
	{prefix: "pcsk_", body: bB64URL, min: 40},                        // Pinecone
	{prefix: "pscale_tkn_", body: bB64URL, min: 32},                  // PlanetScale
	{prefix: "pscale_pw_", body: bB64URL, min: 32},                   // PlanetScale password
	{prefix: "pscale_oauth_", body: bB64URL, min: 32},                // PlanetScale OAuth
	{prefix: "sbp_", body: bHex, min: 40},                            // Supabase
	{prefix: "sb_secret_", body: bB64URL, min: 24},                   // Supabase secret key
	{prefix: "rubygems_", body: bHex, min: 48, max: 48},              // RubyGems
	{prefix: "shippo_live_", body: bHex, min: 40, max: 40},           // Shippo
	{prefix: "pnu_", body: bAlnum, min: 36, mixed: true},             // Prefect
	{prefix: "rdme_", body: bAlnum, min: 64},                         // ReadMe
	{prefix: "ops_", body: bDotted, min: 60, start: "eyJ"},           // 1Password service account
	{prefix: "tfp_", body: bB64URL, min: 40, mixed: true},            // Typeform
	{prefix: "fo1_", body: bB64URL, min: 40},                         // Fly.io
	{prefix: "ntn_", body: bAlnum, min: 40},                          // Notion
	{prefix: "secret_", body: bAlnum, min: 43, max: 43, mixed: true}, // Notion (legacy)
	{prefix: "pat_", body: bAlnum, min: 40, mixed: true},             // Airtable-style PATs
	{prefix: "sk_org_", body: bAlnum, min: 24, mixed: true},          // Stripe org key
	{prefix: "vck_", body: bAlnum, min: 40, mixed: true},             // Vercel
	{prefix: "xai-", body: bAlnum, min: 60, mixed: true},             // xAI
	{prefix: "AGE-SECRET-KEY-", body: bUpperNum, min: 58, max: 58},   // age identity

	// '-'
	{prefix: "gldt-", body: bB64URL, min: 20},               // GitLab deploy token
	{prefix: "glrt-", body: bB64URL, min: 20},               // GitLab runner
	{prefix: "glptt-", body: bB64URL, min: 20},              // GitLab pipeline trigger
	{prefix: "glft-", body: bB64URL, min: 20},               // GitLab feed
	{prefix: "glsoat-", body: bB64URL, min: 20},             // GitLab SCIM OAuth
	{prefix: "glcbt-", body: bB64URL, min: 20},              // GitLab CI job
	{prefix: "glimt-", body: bB64URL, min: 20},              // GitLab incoming mail
	{prefix: "glagent-", body: bB64URL, min: 40},            // GitLab agent
	{prefix: "gloas-", body: bB64URL, min: 40},              // GitLab OAuth app secret
	{prefix: "pypi-", body: bB64URL, min: 50, start: "AgE"}, // PyPI macaroon (pypi.org, test.pypi.org)
	{prefix: "key-", body: bHex, min: 32, max: 32},          // Mailgun
	{prefix: "PMAK-", body: bB64URL, min: 50},               // Postman
	{prefix: "NRAK-", body: bUpperNum, min: 27, max: 27},    // New Relic user key
	{prefix: "NRII-", body: bB64URL, min: 32},               // New Relic insert key
	{prefix: "tvly-", body: bB64URL, min: 32},               // Tavily
	{prefix: "fc-", body: bHex, min: 32, max: 32},           // Firecrawl
	{prefix: "pplx-", body: bAlnum, min: 48},                // Perplexity
	{prefix: "sq0atp-", body: bB64URL, min: 22},             // Square access token
	{prefix: "sq0csp-", body: bB64URL, min: 40},             // Square OAuth secret
	{prefix: "HRKU-", body: bB64URL, min: 20},               // Heroku
	{prefix: "CFPAT-", body: bB64URL, min: 40},              // Contentful
	{prefix: "FLWSECK-", body: bB64URL, min: 32},            // Flutterwave
	{prefix: "FLWSECK_TEST-", body: bB64URL, min: 32},       // Flutterwave test
	{prefix: "xkeysib-", body: bB64URL, min: 64},            // Brevo (Sendinblue)
	{prefix: "GOCSPX-", body: bB64URL, min: 28},             // Google OAuth client secret
	{prefix: "sk-or-v1-", body: bHex, min: 64, max: 64},     // OpenRouter
	{prefix: "dt0c01.", body: bDotted, min: 80},             // Dynatrace
	{prefix: "SG.", body: bDotted, min: 66, max: 66},        // SendGrid: 22 . 43
	{prefix: "ya29.", body: bDotted, min: 20},               // Google OAuth access token
	{prefix: "hvs.", body: bB64URL, min: 24},                // HashiCorp Vault service token
	{prefix: "hvb.", body: bB64URL, min: 24},                // Vault batch token
	{prefix: "hvr.", body: bB64URL, min: 24},                // Vault recovery token
	{prefix: "dp.pt.", body: bAlnum, min: 40},               // Doppler personal
	{prefix: "dp.st.", body: bDotted, min: 40},              // Doppler service
	{prefix: "dp.sa.", body: bAlnum, min: 40},               // Doppler service account
	{prefix: "dp.ct.", body: bAlnum, min: 40},               // Doppler CLI
	{prefix: "sl.", body: bB64URL, min: 120},                // Dropbox short-lived
	{prefix: "sk.", body: bDotted, min: 60, start: "eyJ"},   // Mapbox secret token
}

// tokenIndex maps a separator and the byte before it to the formats whose
// prefix ends so; tokenPre2 holds, for the same pair, a bit per value of
// the byte before that one (its low five bits), so that most separators
// are passed by two lookups.
var tokenPre2 [3][256]uint32

var tokenIndex = func() (t [3][256][]uint8) {
	for i, f := range tokenFormats {
		p := f.prefix
		var sep int
		switch p[len(p)-1] {
		case '_':
			sep = 0
		case '-':
			sep = 1
		case '.':
			sep = 2
		default:
			continue
		}
		t[sep][p[len(p)-2]] = append(t[sep][p[len(p)-2]], uint8(i))
		tokenPre2[sep][p[len(p)-2]] |= 1 << (p[len(p)-3] & 31)
	}
	return t
}()

// mayPrefix reports whether a prefix of tokenFormats ends with the
// separator at p (the index of sep: 0 '_', 1 '-', 2 '.').
func mayPrefix(s string, p, sep int) bool {
	return p > 1 && tokenPre2[sep][s[p-1]]&(1<<(s[p-2]&31)) != 0
}

// prefixedToken tries the formats whose prefix ends with the separator at
// p; it returns the span of a token or (-1, -1).
func prefixedToken(s string, p, sep int) (int, int) {
	if p == 0 || len(tokenIndex[sep][s[p-1]]) == 0 {
		return -1, -1
	}
	for _, fi := range tokenIndex[sep][s[p-1]] {
		f := &tokenFormats[fi]
		a := p + 1 - len(f.prefix)
		if a < 0 || s[a:p+1] != f.prefix || a > 0 && (isAlnum(s[a-1]) || s[a-1] == '_') {
			continue
		}
		b := p + 1
		if !strings.HasPrefix(s[b:], f.start) {
			continue
		}
		e := bodyEnd(s, b, f.body)
		if f.body == bDotted {
			for e > b && s[e-1] == '.' {
				e--
			}
		}
		n := e - b
		if n < f.min || f.max > 0 && n > f.max || f.mixed && !mixedCase(s[b:b+f.min]) {
			continue
		}
		if f.prefix == "SG." && (s[b+22] != '.' || strings.IndexByte(s[b+23:e], '.') >= 0) {
			continue
		}
		if f.body == bAlpha && !hasUpperLower(s[b:e]) {
			continue
		}
		return a, e
	}
	return -1, -1
}

// bodyEnd returns the end of the run of body bytes starting at i.
func bodyEnd(s string, i int, body uint8) int {
	for ; i < len(s); i++ {
		c := s[i]
		ok := false
		switch body {
		case bAlnum:
			ok = isAlnum(c)
		case bHex:
			ok = isHex(c)
		case bB64URL:
			ok = isB64URL(c)
		case bB64:
			ok = isB64Std(c) || c == '='
		case bDotted:
			ok = isB64URL(c) || c == '.'
		case bAlpha:
			ok = isAlpha(c)
		case bUpperNum:
			ok = isUpper(c) || isDigit(c)
		}
		if !ok {
			break
		}
	}
	return i
}

func hasUpperLower(t string) bool {
	var m uint8
	for i := 0; i < len(t); i++ {
		m |= class[t[i]] & (clUpper | clLower)
	}
	return m == clUpper|clLower
}

// scanDotKeys matches the formats whose prefix ends in '.'.
func scanDotKeys(s string, ms []match) []match {
	for off := 0; off < len(s); {
		k := strings.IndexByte(s[off:], '.')
		if k < 0 {
			break
		}
		p := off + k
		off = p + 1
		if p >= 5 && (s[p-1] == 's' && s[p-5:p] == "hooks" || s[p-1] == 'd' || s[p-1] == 'p') {
			if a, e := webhookPath(s, p); e > 0 {
				ms = append(ms, match{a, e, kAPIKey})
				off = e
				continue
			}
		}
		if !mayPrefix(s, p, 2) {
			continue
		}
		if a, e := prefixedToken(s, p, 2); e > 0 {
			ms = append(ms, match{a, e, kAPIKey})
			off = e
		}
	}
	return ms
}

// Tokens whose prefix has no separator: base64 headers that every token
// of a kind starts with (an AWS session token's protobuf header, a Fernet
// token's version byte and zero high timestamp bytes, Atlassian's
// ATATT3, the run of A's of an app-only Twitter bearer token). Each is
// 80 bytes or more, so only strings that long are searched, with one
// strings.Index per anchor.
var noSepTokens = []struct {
	anchor string // searched for
	back   int    // bytes of the prefix before the anchor
	prefix string
	body   uint8
	min    int // whole token
	mask   uint16
}{
	{"IQoJb3JpZ2luX2Vj", 0, "IQoJb3JpZ2luX2Vj", bB64, 100, tUpperJ},          // AWS STS session token
	{"FwoGZXIvYXdzE", 0, "FwoGZXIvYXdzE", bB64, 100, tUpperI},                // AWS STS session token (older)
	{"gAAAAA", 0, "gAAAAA", bB64URL, 80, tUpperA},                            // Fernet
	{"AAAAAAAAAAAAAAAAAAAAA", 0, "AAAAAAAAAAAAAAAAAAAAA", bB64, 80, tUpperA}, // Twitter app-only bearer token
	{"TT3", 3, "AT?TT3", bB64URL, 100, tUpperA},                              // Atlassian API tokens: ATATT3, ATCTT3
}

// scanNoSepTokens matches the tokens of noSepTokens, as whole words.
func scanNoSepTokens(s string, mask uint16, ms []match) []match {
	if len(s) < 80 {
		return ms
	}
	for _, t := range noSepTokens {
		if mask&t.mask == 0 {
			continue
		}
		for off := t.back; off < len(s); {
			k := strings.Index(s[off:], t.anchor)
			if k < 0 {
				break
			}
			p := off + k - t.back
			off += k + 1
			if !hasPrefixWild(s[p:], t.prefix) || p > 0 && (isB64URL(s[p-1]) || s[p-1] == '+' || s[p-1] == '/') {
				continue
			}
			e := bodyEnd(s, p, t.body)
			if t.prefix[0] == 'A' && t.prefix[1] == 'A' {
				for e < len(s) && (isB64Std(s[e]) || s[e] == '%' || s[e] == '=') { // %2B, %3D
					e++
				}
			}
			for e < len(s) && s[e] == '=' {
				e++
			}
			if e-p < t.min {
				continue
			}
			ms = append(ms, match{p, e, kAPIKey})
			off = e
		}
	}
	return ms
}

// Webhook URLs whose path is the secret: Slack incoming webhooks
// (hooks.slack.com/services/T.../B.../...) and Discord webhooks
// (discord.com/api/webhooks/<id>/<token>): the URL is the credential and
// is replaced whole.
var webhookHosts = []struct{ host, rest string }{
	{"hooks", ".slack.com/services/"},
	{"hooks", ".slack.com/workflows/"},
	{"discord", ".com/api/webhooks/"},
	{"discordapp", ".com/api/webhooks/"},
}

// webhookPath matches the secret path of a webhook URL whose host's first
// dot is at p.
func webhookPath(s string, p int) (int, int) {
	if p < 5 || s[p-1] != 's' && s[p-1] != 'd' && s[p-1] != 'p' {
		return -1, -1
	}
	for _, h := range webhookHosts {
		if p < len(h.host) || s[p-len(h.host):p] != h.host || !strings.HasPrefix(s[p:], h.rest) {
			continue
		}
		a := p + len(h.rest)
		start := p - len(h.host)
		if start >= 8 && s[start-8:start] == "https://" {
			start -= 8 // the whole URL is the credential
		}
		e := a
		for e < len(s) && (isB64URL(s[e]) || s[e] == '/') {
			e++
		}
		for e > a && s[e-1] == '/' {
			e--
		}
		if e-a >= 20 {
			return start, e
		}
	}
	return -1, -1
}

// scanAzureSecrets matches Microsoft Entra (Azure AD) client secrets:
// three bytes, a digit, "Q~" and 31-34 more of [A-Za-z0-9_~.-].
func scanAzureSecrets(s string, ms []match) []match {
	for off := 0; off < len(s); {
		k := strings.IndexByte(s[off:], '~')
		if k < 0 {
			break
		}
		p := off + k
		off = p + 1
		a := p - 5
		if a < 0 || s[p-1] != 'Q' || !isDigit(s[p-2]) || a > 0 && azureByte(s[a-1]) {
			continue
		}
		ok := true
		for i := a; i < p-2; i++ {
			ok = ok && azureByte(s[i])
		}
		e := p + 1
		for e < len(s) && (azureByte(s[e]) || s[e] == '-') && e-p <= 35 {
			e++
		}
		for e > p+1 && s[e-1] == '.' && (e == len(s) || !azureByte(s[e])) {
			e-- // the end of a sentence
		}
		if n := e - p - 1; ok && n >= 31 && n <= 34 && (e == len(s) || !azureByte(s[e]) || s[e] == '.') {
			ms = append(ms, match{a, e, kAPIKey})
			off = e
		}
	}
	return ms
}

func azureByte(c byte) bool { return isAlnum(c) || c == '_' || c == '~' || c == '.' }

// telegramToken matches a Telegram bot token around the ':' at i: 8-10
// digits, ':', "AA" and 33 of [A-Za-z0-9_-].
func telegramToken(s string, i int) (int, int) {
	a := i
	for a > 0 && i-a < 10 && isDigit(s[a-1]) {
		a--
	}
	if i-a < 8 || a > 0 && isAlnum(s[a-1]) || !strings.HasPrefix(s[i+1:], "AA") {
		return -1, -1
	}
	e := runEnd(s, i+1, clB64URL)
	if e-i-1 != 35 {
		return -1, -1
	}
	return a, e
}

// hasPrefixWild is strings.HasPrefix where '?' in prefix stands for A or C.
func hasPrefixWild(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; c != s[i] && !(c == '?' && (s[i] == 'A' || s[i] == 'C')) {
			return false
		}
	}
	return true
}
