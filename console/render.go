package console

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"

	"go.uber.org/zap"
)

// pageNames are the templates of templates/, each rendered inside
// layout.html.
var pageNames = []string{"signin", "search", "record", "story", "error"}

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

// layoutView is what layout.html renders around a page.
type layoutView struct {
	SignedIn bool
	Name     string // the token's configured name
	Tenant   string // "" for every tenant
	CSRF     string // the session's, for the sign-out form
	Page     any
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
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, v); err != nil {
		c.log.Error("console page failed", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
