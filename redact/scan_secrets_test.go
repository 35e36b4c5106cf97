package redact

import (
	"strings"
	"testing"
)

const (
	testJWT       = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	testAWSID     = "AKIAIOSFODNN7EXAMPLE"
	testAWSSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var (
	testGHP = crcToken("ghp_", strings.Repeat("aB3", 10))
	testGHS = crcToken("ghs_", strings.Repeat("Z9", 15))
	testPAT = "github_pat_" + strings.Repeat("A1b_", 20) + "Zz"
	testNPM = crcToken("npm_", strings.Repeat("Qw2", 10))
	// testPEMBase64 is base64 of "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...".
	testPEMBase64 = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVBNwotLS0tLUVORCBSU0EgUFJJVkFURSBLRVktLS0tLQo="
	testPEM       = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nq2Nz/e4B==\n-----END RSA PRIVATE KEY-----"
)

func TestString_Secrets(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"secrets"}})
	runStringCases(t, r, []redactCase{
		{"aws key id", "key " + testAWSID + ".", "key [REDACTED:AWS_ACCESS_KEY].", one("AWS_ACCESS_KEY")},
		{"aws session key id", "ASIAY34FZKBOKMUTVV7A", "[REDACTED:AWS_ACCESS_KEY]", one("AWS_ACCESS_KEY")},
		{"aws key id too long", testAWSID + "X", testAWSID + "X", nil},
		{"aws key id inside word", "x" + testAWSID, "x" + testAWSID, nil},
		{"aws key id lower case", "AKIAiosfodnn7example", "AKIAiosfodnn7example", nil},

		{"aws secret env", "aws_secret_access_key=" + testAWSSecret, "aws_secret_access_key=[REDACTED:AWS_SECRET_KEY]", one("AWS_SECRET_KEY")},
		{"aws secret prose", "the AWS Secret is " + testAWSSecret, "the AWS Secret is [REDACTED:AWS_SECRET_KEY]", one("AWS_SECRET_KEY")},
		{"aws secret camel", `"SecretAccessKey": "` + testAWSSecret + `"`, `"SecretAccessKey": "[REDACTED:AWS_SECRET_KEY]"`, one("AWS_SECRET_KEY")},
		{"aws secret dashed", "secret-access-key " + testAWSSecret, "secret-access-key [REDACTED:AWS_SECRET_KEY]", one("AWS_SECRET_KEY")},
		{"aws secret without keyword", "blob " + testAWSSecret, "blob " + testAWSSecret, nil},
		{"aws secret too far", "aws_secret " + strings.Repeat(".", 60) + testAWSSecret, "aws_secret " + strings.Repeat(".", 60) + testAWSSecret, nil},

		{"github classic", "token " + testGHP, "token [REDACTED:GITHUB_TOKEN]", one("GITHUB_TOKEN")},
		{"github server", testGHS, "[REDACTED:GITHUB_TOKEN]", one("GITHUB_TOKEN")},
		{"github bad checksum", "ghp_" + strings.Repeat("aB3", 12), "ghp_" + strings.Repeat("aB3", 12), nil},
		{"github longer", "ghp_" + strings.Repeat("aB3", 13), "[REDACTED:GITHUB_TOKEN]", one("GITHUB_TOKEN")},
		{"github pat", testPAT + " end", "[REDACTED:GITHUB_TOKEN] end", one("GITHUB_TOKEN")},
		{"github too short", "ghp_" + strings.Repeat("a", 35), "ghp_" + strings.Repeat("a", 35), nil},
		{"github prose", "the ghost ghp_ prefix", "the ghost ghp_ prefix", nil},

		{"slack bot", "xoxb-2048761234-4096123456789-Zq9xWv8uT7sR6qP5oN4m", "[REDACTED:API_KEY]", one("API_KEY")},
		{"slack app", "tok xapp-1-A0123ABCDEF-1234567890123-abcdef0123456789", "tok [REDACTED:API_KEY]", one("API_KEY")},
		{"slack short", "xoxb-123", "xoxb-123", nil},
		{"stripe live", "sk_live_51H8xQ2Lk9vR3mN7pT4wY6zA", "[REDACTED:API_KEY]", one("API_KEY")},
		{"stripe restricted", "key=rk_test_4eC39HqLyjWDarjtT1zdp7dc;", "key=[REDACTED:API_KEY];", one("API_KEY")},
		{"stripe short", "sk_live_abc", "sk_live_abc", nil},
		{"google", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q key", "[REDACTED:API_KEY] key", one("API_KEY")},
		{"google wrong length", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6", nil},
		{"openai", "OPENAI_API_KEY=sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5", "OPENAI_API_KEY=[REDACTED:API_KEY]", one("API_KEY")},
		{"anthropic", "sk-ant-api03-Xy7Zq9Wv8Ut6Sr5Qp4On3Ml2Kj1Ih0Gf-AbCd", "[REDACTED:API_KEY]", one("API_KEY")},
		{"sk- words", "the task-list desk-top sk-this-is-just-a-long-hyphenated-phrase", "the task-list desk-top sk-this-is-just-a-long-hyphenated-phrase", nil},
		{"gitlab", "glpat-Xy7Zq9Wv8Ut6Sr5Qp4On", "[REDACTED:API_KEY]", one("API_KEY")},
		{"npm", "//registry.npmjs.org/:_authToken=" + testNPM, "//registry.npmjs.org/:_authToken=[REDACTED:API_KEY]", one("API_KEY")},
		{"npm bad checksum", "npm_" + strings.Repeat("Ab1", 12), "npm_" + strings.Repeat("Ab1", 12), nil},

		{"jwt", "jwt=" + testJWT + ";", "jwt=[REDACTED:JWT];", one("JWT")},
		{"jwt unsigned", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0In0.", "[REDACTED:JWT]", one("JWT")},
		{"jwt one segment", "eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9", nil},
		{"jwt short segments", "eyJhbGc.eyJzdWI.abc", "eyJhbGc.eyJzdWI.abc", nil},

		{"pem", "key:\n" + testPEM + "\nafter", "key:\n[REDACTED:PRIVATE_KEY]\nafter", one("PRIVATE_KEY")},
		{"pem openssh", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn==\n-----END OPENSSH PRIVATE KEY-----", "[REDACTED:PRIVATE_KEY]", one("PRIVATE_KEY")},
		{"pem no end", "x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg", "x [REDACTED:PRIVATE_KEY]", one("PRIVATE_KEY")},
		{"pem wrong end", "-----BEGIN EC PRIVATE KEY-----\nAAA\n-----END RSA PRIVATE KEY-----\ntail", "[REDACTED:PRIVATE_KEY]", one("PRIVATE_KEY")},
		{"pem pgp", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----", "[REDACTED:PRIVATE_KEY]", one("PRIVATE_KEY")},
		{"pem json-escaped", `{\"key\":\"` + strings.ReplaceAll(testPEM, "\n", `\n`) + `\"}`, `{\"key\":\"[REDACTED:PRIVATE_KEY]\"}`, one("PRIVATE_KEY")},
		{"pem openssh json-escaped no end", `"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA`, `"[REDACTED:PRIVATE_KEY]`, one("PRIVATE_KEY")},
		{"pem base64 secret", "tls.key: " + testPEMBase64 + "\nnext: 1", "tls.key: [REDACTED:PRIVATE_KEY]\nnext: 1", one("PRIVATE_KEY")},
		{"pem base64 certificate", "tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUI=", "tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUI=", nil},
		{"pem certificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", nil},

		{"auth bearer", "Authorization: Bearer abc", "Authorization: Bearer [REDACTED:AUTH]", one("AUTH")},
		{"auth basic lower", "authorization: basic dXNlcjpwYXNz", "authorization: basic [REDACTED:AUTH]", one("AUTH")},
		{"auth other scheme", "Authorization: Token abc123", "Authorization: Token [REDACTED:AUTH]", one("AUTH")},
		{"auth no scheme", "AUTHORIZATION=s3cr3t rest", "AUTHORIZATION=[REDACTED:AUTH] rest", one("AUTH")},
		{"auth json text", `{"Authorization":"Bearer abc"}`, `{"Authorization":"Bearer [REDACTED:AUTH]"}`, one("AUTH")},
		{"auth escaped json text", `-H \"Authorization: Bearer abc\"`, `-H \"Authorization: Bearer [REDACTED:AUTH]\"`, one("AUTH")},
		{"proxy auth", "Proxy-Authorization: Basic Zm9vOmJhcg==", "Proxy-Authorization: Basic [REDACTED:AUTH]", one("AUTH")},
		{"bare bearer", "use Bearer abcdef123456.", "use Bearer [REDACTED:AUTH].", one("AUTH")},
		{"bare bearer upper", "BEARER sk-live-0123", "BEARER [REDACTED:AUTH]", one("AUTH")},
		{"bare bearer jwt", "bearer " + testJWT, "bearer [REDACTED:JWT]", one("JWT")},
		{"bare basic", "Basic dXNlcjpwYXNz", "Basic [REDACTED:AUTH]", one("AUTH")},
		{"bearer prose", "the bearer token is missing", "the bearer token is missing", nil},
		{"basic prose", "Basic plan, basic dXNlcjpwYXNz", "Basic plan, basic dXNlcjpwYXNz", nil},
		{"authorization prose", "awaiting authorization from the manager", "awaiting authorization from the manager", nil},
	})
}

func TestKeyContext(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want keyCtx
	}{
		{"authorization", ctxAuth},
		{"Authorization", ctxAuth},
		{"Proxy-Authorization", ctxAuth},
		{"HTTP_AUTHORIZATION", ctxAuth},
		{"authorization_url", 0},
		{"aws_secret_access_key", ctxAWSSecret | ctxSecret},
		{"SecretAccessKey", ctxAWSSecret | ctxSecret},
		{"AWS-Secret", ctxAWSSecret | ctxSecret},
		{"secret", ctxSecret},
		{"next_page_token", 0},
		{"db_password", ctxPassword},
		{"card_cvv", ctxCVV},
		{"phoneNumber", ctxPhone},
		{"Message-ID", ctxMsgID},
		{"reasoning_summary", 0},
		{"ts", 0},
	} {
		if got := keyContext(tc.key); got != tc.want {
			t.Errorf("keyContext(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

// TestKeyMayHaveContext: the cheap test before keyContext passes every key
// that gives a context and stops common keys that give none.
func TestKeyMayHaveContext(t *testing.T) {
	for _, k := range []string{"message_id", "Message-ID", "in_reply_to", "password", "DB_PASSWD", "PHONE",
		"phoneNumber", "card_cvv", "security_code", "Authorization", "api_key", "access_token", "client_secret",
		"credentials", "sig", "passphrase", "mobile", "fax", "References"} {
		if !keyMayHaveContext(k) {
			t.Errorf("keyMayHaveContext(%q) = false", k)
		}
	}
	for _, k := range []string{"call_id", "trace_id", "description", "action", "mode", "class", "code", "file", "shell", "id", "to"} {
		if keyMayHaveContext(k) {
			t.Errorf("keyMayHaveContext(%q) = true", k)
		}
	}
}
