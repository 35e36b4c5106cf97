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
	testGHP = "ghp_" + strings.Repeat("aB3", 12)
	testPAT = "github_pat_" + strings.Repeat("A1b_", 20) + "Zz"
	testPEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nq2Nz/e4B==\n-----END RSA PRIVATE KEY-----"
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
		{"github server", "ghs_" + strings.Repeat("Z9", 18), "[REDACTED:GITHUB_TOKEN]", one("GITHUB_TOKEN")},
		{"github pat", testPAT + " end", "[REDACTED:GITHUB_TOKEN] end", one("GITHUB_TOKEN")},
		{"github too short", "ghp_" + strings.Repeat("a", 35), "ghp_" + strings.Repeat("a", 35), nil},
		{"github prose", "the ghost ghp_ prefix", "the ghost ghp_ prefix", nil},

		{"jwt", "jwt=" + testJWT + ";", "jwt=[REDACTED:JWT];", one("JWT")},
		{"jwt unsigned", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0In0.", "[REDACTED:JWT]", one("JWT")},
		{"jwt one segment", "eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9", nil},
		{"jwt short segments", "eyJhbGc.eyJzdWI.abc", "eyJhbGc.eyJzdWI.abc", nil},

		{"pem", "key:\n" + testPEM + "\nafter", "key:\n[REDACTED:PRIVATE_KEY]\nafter", one("PRIVATE_KEY")},
		{"pem openssh", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn==\n-----END OPENSSH PRIVATE KEY-----", "[REDACTED:PRIVATE_KEY]", one("PRIVATE_KEY")},
		{"pem no end", "x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg", "x [REDACTED:PRIVATE_KEY]", one("PRIVATE_KEY")},
		{"pem wrong end", "-----BEGIN EC PRIVATE KEY-----\nAAA\n-----END RSA PRIVATE KEY-----\ntail", "[REDACTED:PRIVATE_KEY]", one("PRIVATE_KEY")},
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
		{"aws_secret_access_key", ctxAWSSecret},
		{"SecretAccessKey", ctxAWSSecret},
		{"AWS-Secret", ctxAWSSecret},
		{"secret", 0},
		{"reasoning_summary", 0},
		{"ts", 0},
	} {
		if got := keyContext(tc.key); got != tc.want {
			t.Errorf("keyContext(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}
