package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// consoleIntegrityInBrowser drives the integrity page in the browser of
// ctx, signed in with an admin token: it runs the verification with the
// page's button, waits for the verdict (the page's script reloads it when
// the run ends), keeps a screenshot of the page
// (docs/img/console-integrity.png with AUDIT_UPDATE_SCREENSHOT=1),
// downloads the evidence bundle with the page's form and checks that it
// verifies as its README says, and no longer once one byte is changed.
func consoleIntegrityInBrowser(t *testing.T, ctx context.Context, e *env) {
	t.Helper()
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := chromedp.Do(ctx, chromedp.Click(`nav a[href="/console/integrity"]`), chromedp.WaitReady("#verify")); err != nil {
		t.Fatalf("the integrity page from the nav: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click("#verify")); err != nil {
		t.Fatal(err)
	}
	verdict := ""
	waitFor(t, "the verdict on the integrity page", func() bool {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('[data-verdict]') || {dataset: {}}).dataset.verdict || ''`))
		verdict = s
		return err == nil && s != ""
	})
	if verdict != "valid" {
		t.Fatalf("verdict %q; the page says\n%s", verdict, eval(`document.body.innerText`))
	}
	s := eval(`document.body.innerText`)
	for _, want := range []string{"Valid: no sign of tampering was found", "What is protected", "recomputed with the HMAC key",
		"What remains unprotected", "Download evidence", e.chainID} {
		if !strings.Contains(s, want) {
			t.Errorf("the integrity page does not show %q", want)
		}
	}
	worst, err := chromedp.Run(ctx, chromedp.Evaluate[contrast](contrastJS))
	if err != nil || worst.Ratio < 4.5 {
		t.Errorf("integrity page: text %q has contrast %.2f:1 (%v)", worst.Text, worst.Ratio, err)
	}
	unlabeled, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden]), select')].filter(i => !i.labels || i.labels.length === 0).length`))
	if err != nil || unlabeled != 0 {
		t.Errorf("integrity page: %d form fields without a label (%v)", unlabeled, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "console-integrity.png", shot)

	// The download, as a person does it: the form's button.
	dir := t.TempDir()
	allow := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	})
	if err := chromedp.Do(ctx, allow, chromedp.Click("#download")); err != nil {
		t.Fatal(err)
	}
	var zipPath string
	waitFor(t, "the evidence bundle's download", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "audit-evidence-*.zip"))
		if len(m) != 1 {
			return false
		}
		zipPath = m[0]
		return true
	})
	b, err := os.ReadFile(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	checkBundle(t, unzipBundle(t, b), e.keyPath)
}
