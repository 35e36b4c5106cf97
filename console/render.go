package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// pageNames are the templates of templates/, each rendered inside
// layout.html.
var pageNames = []string{"signin", "search", "record", "story", "error", "integrity", "overview"}

func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// bidiRunes are the bidirectional controls of Unicode. bidiControls
// shows them as text ("[U+202E]") wherever a page would hold them:
// records carry them as the agent wrote them, and obeyed they reorder
// what follows on the page (a tool name that turns "denied" around).
const bidiRunes = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

var bidiControls = func() *strings.Replacer {
	var pairs []string
	for _, r := range bidiRunes {
		pairs = append(pairs, string(r), fmt.Sprintf("[U+%04X]", r))
	}
	return strings.NewReplacer(pairs...)
}()

// layoutView is what layout.html renders around a page.
type layoutView struct {
	SignedIn bool
	Name     string // the token's configured name
	Tenant   string // "" for every tenant
	CSRF     string // the session's, for the sign-out form
	// Integrity links the integrity page: a token without a tenant, on a
	// console that has one.
	Integrity bool
	Page      any
}

type signinView struct {
	CSRF    string
	Problem string
}

type errorView struct {
	Title, Message string
}

// render writes page name with data, inside the layout; ss (nil when
// signed out) fills the header. The page is rendered before the status
// is sent, so that a template error is a clean 500.
func (c *console) render(w http.ResponseWriter, status int, name string, ss *session, data any) {
	v := layoutView{Page: data}
	if ss != nil {
		v.SignedIn, v.Name, v.Tenant, v.CSRF = true, ss.principal.Name(), ss.principal.Tenant(), ss.csrf
		v.Integrity = c.integrity != nil && v.Tenant == ""
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, v); err != nil {
		c.log.Error("console page failed", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	page := buf.Bytes()
	if bytes.ContainsAny(page, bidiRunes) { // a copy only then: pages can be large
		page = []byte(bidiControls.Replace(string(page)))
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	_, _ = w.Write(page)
}
