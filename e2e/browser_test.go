package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// chromiumPath is the browser the page tests drive: $AUDIT_TEST_CHROMIUM,
// else the first of Debian's chromium and its usual other names found on
// PATH ("" if none).
func chromiumPath() string {
	if p := os.Getenv("AUDIT_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserSkipOrFail skips the test, or fails it when
// AUDIT_TEST_REQUIRE_BROWSER=1 (as in CI, which installs Chromium), so
// that a CI run can never pass with the browser tests skipped.
func browserSkipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("AUDIT_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatalf("%s and AUDIT_TEST_REQUIRE_BROWSER=1", why)
	}
	t.Skip(why)
}

// newBrowser starts a headless Chromium for the test and returns a tab's
// context, bounded in time; the browser is ended at the test's end.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		browserSkipOrFail(t, "no chromium found (install Debian's chromium, or set AUDIT_TEST_CHROMIUM)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Flag("disable-gpu", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	// The first action starts the browser, bound to ctx (not to a
	// deadline that would end it early).
	if err := chromedp.Do(ctx); err != nil {
		browserSkipOrFail(t, "chromium at "+path+" does not start: "+err.Error())
	}
	tctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(tcancel)
	return tctx
}

// emulateMedia makes the page's CSS see the media type ("print", or ""
// for the screen again).
func emulateMedia(media string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media})
		return err
	})
}

// contrastJS finds the text of the page with the lowest contrast against
// its background (WCAG 2 relative luminance), walking up to the first
// opaque background.
const contrastJS = `(() => {
  const parse = c => (c.match(/[\d.]+/g) || []).map(Number);
  const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => { const [r, g, b] = parse(c); return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b); };
  const alpha = c => { const p = parse(c); return p.length > 3 ? p[3] : 1; };
  const bg = el => { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor; if (alpha(c) > 0) return c; } return 'rgb(255, 255, 255)'; };
  let worst = {ratio: 21, text: '', fg: '', bg: ''};
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = w.nextNode());) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement, fg = getComputedStyle(el).color, b = bg(el);
    const l1 = lum(fg), l2 = lum(b), r = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    if (r < worst.ratio) worst = {ratio: r, text: n.textContent.trim().slice(0, 80), fg: fg, bg: b};
  }
  return worst;
})()`

type contrast struct {
	Ratio float64 `json:"ratio"`
	Text  string  `json:"text"`
	FG    string  `json:"fg"`
	BG    string  `json:"bg"`
}

// headingsJS lists the levels of the page's headings in order.
const headingsJS = `[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => Number(h.tagName[1]))`
