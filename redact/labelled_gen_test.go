package redact

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// The labelled fixtures (testdata/labelled.jsonl) are records of agent
// content in the formats it comes in (JSON, logs, chat, e-mail, SQL, HTTP,
// shell, URLs, CSV, YAML, HTML), each with the values that must be
// redacted (their type and tier) and the look-alikes that must stay.
// genLabelled writes them deterministically; `go test -run TestLabelled
// -update` rewrites the file. Unlike corpus.jsonl, whose items are one
// value each, a record here mixes several values and look-alikes in one
// document, as real content does.

// labelled is one record.
type labelled struct {
	Format string      `json:"format"`
	Input  string      `json:"input"`
	Want   []wantValue `json:"want,omitempty"`
	Keep   []keepText  `json:"keep,omitempty"`
	Ctx    string      `json:"ctx,omitempty"` // names fixtures: where the values stand
}

// wantValue must not survive, and its type must be counted. Tier 1: found
// by its shape and checks; tier 2: found by its context.
type wantValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
	Tier  int    `json:"tier"`
}

// keepText must come out as it went in; Like is the type it resembles.
type keepText struct {
	Like string `json:"like"`
	Text string `json:"text"`
}

type labelGen struct {
	corpusGen
	recs []labelled
	cur  labelled
}

func (g *labelGen) want(typ string, tier int, v string) string {
	g.cur.Want = append(g.cur.Want, wantValue{typ, v, tier})
	return v
}

func (g *labelGen) keep(like, text string) string {
	g.cur.Keep = append(g.cur.Keep, keepText{like, text})
	return text
}

func (g *labelGen) emit(format, input string) {
	g.cur.Format, g.cur.Input = format, input
	g.recs = append(g.recs, g.cur)
	g.cur = labelled{}
}

func jsonDoc(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}

// Values.

var (
	firstNames = []string{"dana", "fox", "walter", "monica", "john", "lena", "ravi", "ana", "yuki", "omar", "sofia", "li"}
	lastNames  = []string{"scully", "mulder", "skinner", "reyes", "doggett", "weber", "patel", "silva", "tanaka", "haddad", "rossi", "chen"}
	domains    = []string{"example.com", "example.org", "mail.example.net", "corp.example.co.uk", "example.de", "example.com.br"}
	monthsFull = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

func (g *labelGen) email() string {
	return g.pick(firstNames...) + g.pick(".", "_", "") + g.pick(lastNames...) + g.pick("", fmt.Sprint(g.n(1, 99))) + "@" + g.pick(domains...)
}

func (g *labelGen) ipv4() string {
	return fmt.Sprintf("%d.%d.%d.%d", g.pick2(1, 126), g.n(0, 255), g.n(0, 255), g.n(1, 254))
}

func (g *labelGen) ssn() string {
	a := g.n(1, 665)
	return fmt.Sprintf("%03d-%02d-%04d", a, g.n(1, 99), g.n(1, 9999))
}

func (g *labelGen) usPhone() string {
	a, e, l := g.n(201, 989), g.n(200, 989), g.n(0, 9999)
	switch g.n(0, 3) {
	case 0:
		return fmt.Sprintf("(%d) %d-%04d", a, e, l)
	case 1:
		return fmt.Sprintf("%d-%d-%04d", a, e, l)
	case 2:
		return fmt.Sprintf("+1 %d %d %04d", a, e, l)
	}
	return fmt.Sprintf("%d.%d.%04d", a, e, l)
}

func (g *labelGen) cardText() string {
	_, c := g.card()
	if len(c) == 16 && g.n(0, 1) == 0 {
		return group(c, g.pick(" ", "-"), 4, 4, 4, 4)
	}
	return c
}

func (g *labelGen) b64(k int) string { return g.from(alnum+"+/", k) }
func (g *labelGen) b64u(k int) string {
	return g.from(alnum+"-_", k)
}

func (g *labelGen) hexs(k int) string { return g.from(hexLow, k) }

// token returns a vendor token of a fixed-prefix format and its name.
func (g *labelGen) token() (string, string) {
	switch g.n(0, 36) {
	case 0:
		return "sendgrid", "SG." + g.b64u(22) + "." + g.b64u(43)
	case 1:
		return "google oauth", "ya29.a0" + g.b64u(g.n(60, 150))
	case 2:
		return "aws session", "IQoJb3JpZ2luX2Vj" + g.b64(g.n(300, 600)) + "=="
	case 3:
		raw := make([]byte, 9+16+32+32)
		raw[0] = 0x80
		for i := 5; i < len(raw); i++ {
			raw[i] = byte(g.n(0, 255))
		}
		return "fernet", base64.URLEncoding.EncodeToString(raw)
	case 4:
		return "google client secret", "GOCSPX-" + g.b64u(28)
	case 5:
		return "gitlab pat", "glpat-" + g.b64u(20)
	case 6:
		return "gitlab deploy", "gldt-" + g.b64u(20)
	case 7:
		return "shopify", "shpat_" + g.hexs(32)
	case 8:
		return "digitalocean", "dop_v1_" + g.hexs(64)
	case 9:
		return "hugging face", "hf_" + g.from(upper, 5) + g.from(lower, 29)
	case 10:
		return "pypi", "pypi-AgEIcHlwaS5vcmc" + g.b64u(g.n(60, 120))
	case 11:
		return "slack", "xoxb-" + g.digits(12) + "-" + g.digits(13) + "-" + g.from(alnum, 24)
	case 12:
		return "stripe", g.pick("sk_live_", "rk_live_") + g.from(alnum, 24+g.n(0, 75))
	case 13:
		return "openai", "sk-proj-" + g.from(alnum, 20) + "Ab1" + g.from(alnum, 28)
	case 14:
		return "anthropic", "sk-ant-api03-" + g.from(alnum, 40) + "Zz9" + g.from(alnum+"-_", 40)
	case 15:
		return "npm", crcToken("npm_", g.from(alnum, 30))
	case 16:
		return "google api", "AIza" + g.from(alnum+"-_", 35)
	case 17:
		return "vault", "hvs." + g.b64u(90)
	case 18:
		return "doppler", "dp.pt." + g.from(alnum, 43)
	case 19:
		return "langsmith", "lsv2_pt_" + g.hexs(32) + "_" + g.hexs(10)
	case 20:
		return "tavily", "tvly-" + g.from(alnum, 32)
	case 21:
		return "mailgun", "key-" + g.hexs(32)
	case 22:
		return "postman", "PMAK-" + g.hexs(24) + "-" + g.hexs(34)
	case 23:
		return "new relic", "NRAK-" + g.from(upper+"0123456789", 27)
	case 24:
		return "square", "sq0atp-" + g.b64u(22)
	case 25:
		return "stripe webhook", "whsec_" + g.from(alnum, 32)
	case 26:
		return "docker hub", "dckr_pat_" + g.b64u(27)
	case 27:
		return "sentry", "sntryu_" + g.hexs(64)
	case 28:
		return "openrouter", "sk-or-v1-" + g.hexs(64)
	case 29:
		return "atlassian", "ATATT3xFfGF0" + g.b64u(180) + "=" + g.hexs(8)
	case 30:
		return "github", crcToken(g.pick("ghp_", "gho_", "ghs_"), g.from(alnum, 30))
	case 31:
		return "aws key id", "AKIA" + g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
	case 33:
		return "slack webhook", "https://hooks.slack.com/services/T" + g.from(upper+"0123456789", 8) + "/B" + g.from(upper+"0123456789", 10) + "/" + g.from(alnum, 24)
	case 34:
		return "azure client secret", g.from(alnum, 3) + g.digits(1) + "Q~" + g.from(alnum+"_.-", 34)
	case 35:
		return "telegram", fmt.Sprint(g.n(10000000, 9999999999)) + ":AA" + g.from(alnum+"_-", 33)
	case 32:
		return "groq", "gsk_" + g.from(alnum, 20) + "Ab1" + g.from(alnum, 29)
	}
	return "replicate", "r8_" + g.from(alnum, 10) + "Ab1" + g.from(alnum, 24)
}

// tokenType is the type the redactor reports for a token of token().
func tokenType(name string) string {
	switch name {
	case "github":
		return TypeGitHubToken
	case "aws key id":
		return TypeAWSAccessKey
	}
	return TypeAPIKey
}

func (g *labelGen) password() string {
	return g.from(lower, g.n(3, 6)) + g.pick("!", "#", "9", "$", "_", "") + g.from(alnum, g.n(3, 8))
}

func (g *labelGen) jwt() string {
	b := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	return b(`{"alg":"RS256","typ":"JWT"}`) + "." + b(fmt.Sprintf(`{"sub":"%s","iat":%d}`, g.digits(8), g.n(1e9, 2e9))) + "." + g.b64u(86)
}

func (g *labelGen) dobWords() string {
	m := monthsFull[g.n(0, 11)]
	d, y := g.n(1, 28), g.n(1930, 2005)
	switch g.n(0, 2) {
	case 0:
		return fmt.Sprintf("%s %d, %d", m, d, y)
	case 1:
		return fmt.Sprintf("%d %s %d", d, m, y)
	}
	return fmt.Sprintf("%02d/%02d/%d", d+2, g.n(1, 12), y)
}

func (g *labelGen) passport() string {
	switch g.n(0, 3) {
	case 0:
		return g.from(upper, 1) + g.digits(8)
	case 1:
		return g.digits(9)
	case 2:
		return g.digits(2) + g.from(upper, 2) + g.digits(5)
	}
	return "C" + g.digits(2) + "X" + g.digits(2) + "T" + g.digits(2)
}

// snowflake is a 19-digit id that passes Luhn but has no card issuer.
func (g *labelGen) snowflake() string {
	return luhnComplete(g.pick("1", "7", "8", "9") + g.digits(17))
}

// failsLuhn returns a 16-digit number with a card prefix that fails Luhn.
func (g *labelGen) failsLuhn() string {
	c := luhnComplete("4" + g.digits(14))
	last := (int(c[15]-'0') + g.n(1, 9)) % 10
	return c[:15] + fmt.Sprint(last)
}

// Look-alikes.
func (g *labelGen) lookalike() (string, string) {
	switch g.n(0, 29) {
	case 0:
		return TypeEmail, "<" + g.hexs(12) + "." + g.digits(6) + "@mx." + g.pick(domains...) + ">"
	case 1:
		return TypeEmail, "git@github.com:" + g.pick("acme", "org", "team") + "/" + g.pick("api", "web", "infra") + ".git"
	case 2:
		return TypeEmail, g.pick("icon", "logo", "hero", "avatar") + "@" + g.pick("2x", "3x", "1.5x") + "." + g.pick("png", "webp", "jpg")
	case 3:
		return TypeIPv4, g.pick("127.0.0.1", "0.0.0.0", "127.0.1.1", "255.255.255.255")
	case 4:
		return TypeIPv6, g.pick("::1", "::")
	case 5:
		return TypeAuth, `WWW-Authenticate: Bearer realm="` + g.pick("API", "api", "example") + `"`
	case 6:
		return TypeCard, g.snowflake()
	case 7:
		return TypeCard, g.failsLuhn()
	case 8:
		return TypeCard, g.hexs(6) + luhnComplete("4"+g.digits(14)) + g.hexs(6)
	case 9:
		return TypeSecret, fmt.Sprintf("max_tokens=%d", g.n(256, 8192))
	case 10:
		return TypeSecret, "next_page_token=" + g.b64u(32)
	case 11:
		return TypePassword, fmt.Sprintf("ssh -p %d deploy@bastion", g.n(1024, 65000))
	case 12:
		return TypePassword, fmt.Sprintf("docker run -p %d:80 nginx", g.n(1024, 9999))
	case 13:
		return TypePassword, "mkdir -p /var/lib/" + g.pick("app", "data", "cache")
	case 14:
		return TypePassword, "export PWD=/home/" + g.pick(firstNames...)
	case 15:
		return TypePassword, g.pick("Password: reset required", "password: ********", "password=${DB_PASSWORD}", "password: <redacted>")
	case 16:
		return TypeEmail, g.pick("lodash@4.17.21", "react@18.2.0", "@types/node", "@app.route('/x')")
	case 17:
		return TypeEmail, "nginx@sha256:" + g.hexs(64)
	case 18:
		return TypeDOB, fmt.Sprintf("%d-%02d-%02d", g.n(2020, 2026), g.n(1, 12), g.n(1, 28))
	case 19:
		return TypePhone, fmt.Sprintf("order %d %d", g.n(10, 99), g.n(100000000, 999999999))
	case 20:
		return TypeCVV, fmt.Sprintf("HTTP %d", g.pick2(404, 503))
	case 21:
		return TypeCVV, fmt.Sprintf("port %d", g.n(1000, 9999))
	case 22:
		return TypeIPv4, fmt.Sprintf("version %d.%d.%d.%d", g.n(1, 9), g.n(0, 20), g.n(0, 9), g.n(0, 99))
	case 23:
		return TypeSecret, fmt.Sprintf("token_count: %d", g.n(10, 9999))
	case 24:
		return TypeAuth, g.pick("the bearer of this letter", "our Basic plan", "bearer token expired")
	case 25:
		return TypeCard, g.hexs(8) + "-" + g.hexs(4) + "-" + g.hexs(4) + "-" + g.hexs(4) + "-" + g.hexs(12)
	case 26:
		return TypeAPIKey, "sk-" + g.pick("learn", "image", "test-suite") + "-" + g.pick("docs", "runner")
	case 27:
		return TypeSSN, fmt.Sprintf("%03d-%02d-%04d", g.n(900, 999), g.n(10, 49), g.n(1, 9999))
	case 28:
		return TypeEmail, "user@localhost"
	}
	return TypePhone, fmt.Sprintf("%d-%02d-%02dT%02d:%02d:%02dZ", g.n(2020, 2026), g.n(1, 12), g.n(1, 28), g.n(0, 23), g.n(0, 59), g.n(0, 59))
}

// Scenarios: one record each, in one format.

// lookalike2: prose and placeholders around the context words.
func (g *labelGen) lookalike2() (string, string) {
	switch g.n(0, 21) {
	case 0:
		return TypePassword, "Forgot password: use the reset link"
	case 1:
		return TypePassword, "password: ${" + g.pick("DB_PASS", "PGPASSWORD") + "}"
	case 2:
		return TypePassword, "passwordless login is enabled"
	case 3:
		return TypeSecret, "api_key: YOUR_API_KEY"
	case 4:
		return TypeSecret, "token: null"
	case 5:
		return TypeSecret, "Bearer <token>"
	case 6:
		return TypePhone, "phone: n/a"
	case 7:
		return TypeCVV, "the cvv field is required"
	case 8:
		return TypeIPv4, "listening on 127.0.0.53:53"
	case 9:
		return TypeIPv6, "bind [::1]:8080"
	case 10:
		return TypeEmail, "localhost:8080"
	case 11:
		return TypeCard, "ISBN 978-3-16-148410-0"
	case 12:
		return TypeDOB, fmt.Sprintf("released March %d, %d", g.n(1, 28), g.n(2019, 2025))
	case 13:
		return TypePhone, fmt.Sprintf("build %d %d", g.n(10, 99), g.n(10000000, 99999999))
	case 14:
		return TypeSecret, fmt.Sprintf("tokens: %d", g.n(100, 99999))
	case 15:
		return TypePassword, "password_policy: strong"
	case 16:
		return TypeCVV, fmt.Sprintf("HTTP/1.1 %d OK", g.pick2(200, 204))
	case 17:
		return TypeAPIKey, "sk-your-key-here"
	case 18:
		return TypeEmail, "see https://docs.example.com/@user/post"
	case 19:
		return TypeSSN, fmt.Sprintf("%03d %02d %04d", g.n(900, 999), g.n(10, 49), g.n(1, 9999))
	case 20:
		return TypeCard, fmt.Sprintf("%d.%d", g.n(4000000, 4999999), g.n(10000000, 99999999))
	}
	return TypeAuth, "WWW-Authenticate: Basic realm=\"Restricted\", charset=\"UTF-8\""
}
