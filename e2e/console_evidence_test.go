package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// consoleHTTP is a client of a console at base, as a browser without
// script: a cookie jar, no redirect followed.
type consoleHTTP struct {
	base string
	c    *http.Client
}

func newConsoleHTTP(t *testing.T, addr string) *consoleHTTP {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleHTTP{base: "http://" + addr, c: &http.Client{Jar: jar, Timeout: 2 * waitDeadline,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request (a form when form is not nil) and returns the
// status and the body.
func (h *consoleHTTP) do(t *testing.T, method, path string, form url.Values) (int, []byte) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := h.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, b
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func pageCSRF(t *testing.T, page []byte) string {
	t.Helper()
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", page)
	}
	return html.UnescapeString(string(m[1]))
}

// signin signs in with token through the form.
func (h *consoleHTTP) signin(t *testing.T, token string) {
	t.Helper()
	code, page := h.do(t, http.MethodGet, "/console/signin", nil)
	if code != http.StatusOK {
		t.Fatalf("sign-in form: %d", code)
	}
	if code, _ := h.do(t, http.MethodPost, "/console/signin", url.Values{"csrf": {pageCSRF(t, page)}, "token": {token}}); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}
}

var verdictRE = regexp.MustCompile(`data-verdict="([a-z]+)"`)

// verifyStore starts the integrity check with the page's button and
// waits for its verdict, which it returns with the page.
func (h *consoleHTTP) verifyStore(t *testing.T) (string, string) {
	t.Helper()
	code, page := h.do(t, http.MethodGet, "/console/integrity", nil)
	if code != http.StatusOK {
		t.Fatalf("integrity page: %d\n%s", code, page)
	}
	if code, _ := h.do(t, http.MethodPost, "/console/integrity", url.Values{"csrf": {pageCSRF(t, page)}}); code != http.StatusSeeOther {
		t.Fatalf("start the verification: %d", code)
	}
	var verdict string
	waitFor(t, "the integrity page's verdict", func() bool {
		_, page = h.do(t, http.MethodGet, "/console/integrity", nil)
		if bytes.Contains(page, []byte(`id="progress"`)) {
			return false
		}
		if bytes.Contains(page, []byte("could not run to its end")) {
			t.Fatalf("the verification failed:\n%s", page)
		}
		m := verdictRE.FindSubmatch(page)
		if m != nil {
			verdict = string(m[1])
		}
		return m != nil
	})
	return verdict, string(page)
}

// unzipBundle writes the files of a zip into a new folder.
func unzipBundle(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the bundle is not a zip: %v", err)
	}
	dir := t.TempDir()
	for _, f := range zr.File {
		if strings.Contains(f.Name, "..") || filepath.IsAbs(f.Name) {
			t.Fatalf("bundle file name %q", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f.Name), data)
	}
	return dir
}

// readmeVerify is the verify command line that the bundle's README.txt
// gives, as arguments after "audit-sidecar".
func readmeVerify(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "README.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "audit-sidecar verify "); ok {
			return append([]string{"verify"}, strings.Fields(rest)...)
		}
	}
	t.Fatalf("README.txt gives no verify command:\n%s", b)
	return nil
}

// runIn runs name with args in dir and returns its exit code and output.
func runIn(t *testing.T, dir, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*exitDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	return 0, ""
}

// checkBundle verifies an unzipped evidence bundle as its README says,
// with the binary and the HMAC key (valid, exit 0), without the key when
// the bundle has public keys (never invalid), and, when python3 is there,
// with tools/verify_export.py; then it changes one byte of the
// export and requires the binary to say invalid (exit 1).
func checkBundle(t *testing.T, dir, keyPath string) {
	t.Helper()
	args := append(readmeVerify(t, dir), "--key-file", keyPath)
	if code, out := runIn(t, dir, bin, args...); code != 0 || !strings.Contains(out, "verdict: valid") {
		t.Fatalf("audit-sidecar %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	if keyless := readmeVerify(t, dir); strings.Contains(strings.Join(keyless, " "), "--pubkey") {
		if code, out := runIn(t, dir, bin, keyless...); code == 1 || code == 2 {
			t.Errorf("without the HMAC key (signed checkpoints alone): exit %d\n%s", code, out)
		}
	}
	if py, err := exec.LookPath("python3"); err == nil {
		root, err := moduleRoot()
		if err != nil {
			t.Fatal(err)
		}
		pyArgs := append([]string{filepath.Join(root, "tools", "verify_export.py"), "export.ndjson"}, args[3:]...)
		if code, out := runIn(t, dir, py, pyArgs...); code != 0 {
			t.Errorf("verify_export.py %v: exit %d\n%s", pyArgs, code, out)
		}
	}
	p := filepath.Join(dir, "export.ndjson")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"action":"tool_call"`))
	if i < 0 {
		t.Fatal("the export holds no tool call")
	}
	b[i+len(`"action":"`)] = 'T'
	writeFile(t, p, b)
	if code, out := runIn(t, dir, bin, args...); code != 1 || !strings.Contains(out, "verdict: invalid") {
		t.Errorf("one byte changed: exit %d, want 1\n%s", code, out)
	}
}
