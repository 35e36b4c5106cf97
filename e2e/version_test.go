package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// build builds the binary from the module in dir with -buildvcs as given
// and extra build flags.
func build(t *testing.T, dir string, vcs bool, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "audit-sidecar")
	flag := "-buildvcs=" + strconv.FormatBool(vcs)
	cmd := exec.Command("go", append(append([]string{"build", "-trimpath", flag, "-o", out}, extra...), "./cmd/audit-sidecar")...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", flag, err, b)
	}
	return out
}

// version says the commit the binary was built from when the build knows
// it (a git checkout, -buildvcs=true), and "unknown" when it does not.
func TestE2E_Version_VCSRevision(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	rev := strings.TrimSpace(string(head))
	// Go stamps no VCS facts in a linked worktree (.git a file): build in a
	// clone of HEAD.
	clone := filepath.Join(t.TempDir(), "src")
	if b, err := exec.Command("git", "clone", "--quiet", "--shared", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, b)
	}
	out, err := exec.Command(build(t, clone, true), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^vcs revision: ` + rev + ` \S+ \(modified: false\)$`).Match(out) {
		t.Errorf("version with -buildvcs=true, HEAD %s:\n%s", rev, out)
	}
	out, err = exec.Command(build(t, root, false), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\nvcs revision: unknown\n") || !strings.HasPrefix(string(out), "audit-sidecar ") {
		t.Errorf("version with -buildvcs=false:\n%s", out)
	}
	// The image's build, whose context has no .git, passes the revision.
	out, err = exec.Command(build(t, root, false, "-ldflags", "-X main.revision="+rev), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\nvcs revision: "+rev+"\n") {
		t.Errorf("version with -X main.revision=%s:\n%s", rev, out)
	}
}

// A running sidecar says on /metrics which build it is.
func TestE2E_BuildInfoMetric(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.start(t)
	defer p.stop(t)
	_, body := get(t, p.addr(t), "", "/metrics", nil)
	re := regexp.MustCompile(`(?m)^audit_build_info\{fips140="(true|false)",goversion="go[^"]+",revision="[^"]+",version="[^"]+"\} 1$`)
	if !re.Match(body) {
		t.Errorf("/metrics has no audit_build_info line:\n%s", grepLines(string(body), "audit_build_info"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
