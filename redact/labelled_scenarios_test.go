package redact

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The records of the labelled fixtures, one scenario a format (see
// labelled_gen_test.go for the values and look-alikes they draw).

func (g *labelGen) sJSONTool() {
	name, tok := g.token()
	like, text := g.lookalike()
	doc := map[string]any{
		"type": "tool_call", "tool": "crm.update",
		"arguments": map[string]any{
			"email":    g.want(TypeEmail, 1, g.email()),
			"password": g.want(TypePassword, 2, g.password()),
			"api_key":  g.want(tokenType(name), 1, tok),
			"note":     g.keep(like, text),
		},
	}
	g.emit("json", jsonDoc(doc))
}

func (g *labelGen) sJSONCard() {
	card := g.want(TypeCard, 1, g.cardText())
	cvv := g.want(TypeCVV, 2, g.digits(3))
	like, text := g.lookalike()
	doc := map[string]any{"tool": "payments.charge", "arguments": map[string]any{
		"card":   map[string]any{"number": card, "cvv": cvv, "exp": "12/27"},
		"amount": 4999, "memo": "ref " + g.keep(like, text) + " \u0026 more",
	}}
	g.emit("json", jsonDoc(doc))
}

func (g *labelGen) sJSONProfile() {
	doc := map[string]any{"result": map[string]any{
		"date_of_birth": g.want(TypeDOB, 2, fmt.Sprintf("%d-%02d-%02d", g.n(1940, 2004), g.n(1, 12), g.n(1, 28))),
		"phone":         g.want(TypePhone, 2, g.pick("81", "44", "49", "91", "55")+" "+g.digits(9)),
		"ssn":           g.want(TypeSSN, 1, g.ssn()),
		"client_secret": g.want(TypeSecret, 2, g.from(alnum, 8)+"7"+g.from(alnum, 23)),
		"message_id":    g.keep(TypeEmail, "<"+g.hexs(16)+"@mx."+g.pick(domains...)+">"),
		"created":       g.keep(TypeDOB, fmt.Sprintf("2026-%02d-%02d", g.n(1, 12), g.n(1, 28))),
	}}
	g.emit("json", jsonDoc(doc))
}

func (g *labelGen) sJSONEscaped() {
	// A JSON log line quoting HTML-escaped text, as Go's encoder writes it.
	e := g.want(TypeEmail, 1, g.email())
	in := fmt.Sprintf(`{"msg":"a \u003cb\u003e \u0026 c for %s","q":"x=1\u0026y=2"}`, e)
	g.keep(TypeEmail, `\u003cb\u003e \u0026 c`)
	g.keep(TypeEmail, `x=1\u0026y=2`)
	g.emit("json", in)
}

func (g *labelGen) sLog() {
	like, text := g.lookalike()
	in := fmt.Sprintf("2026-03-0%dT09:12:44.120Z INFO auth: login ok user=%s ip=%s listen=%s session=%s %s",
		g.n(1, 9), g.want(TypeEmail, 1, g.email()), g.want(TypeIPv4, 1, g.ipv4()),
		g.keep(TypeIPv4, g.pick("127.0.0.1:8080", "0.0.0.0:9090")), g.want(TypeJWT, 1, g.jwt()), g.keep(like, text))
	g.emit("log", in)
}

func (g *labelGen) sLogToken() {
	name, tok := g.token()
	in := fmt.Sprintf("level=warn msg=\"retrying upstream\" attempt=%d credential=%s trace_id=%s",
		g.n(1, 5), g.want(tokenType(name), 1, tok), g.keep(TypeCard, g.hexs(32)))
	g.emit("log", in)
}

func (g *labelGen) sChat() {
	card := g.want(TypeCard, 1, g.cardText())
	in := fmt.Sprintf("User: please charge my card %s exp %02d/%d cvv %s and send the receipt to %s.\nAgent: Done. Your order %s is confirmed.",
		card, g.n(1, 12), g.n(27, 31), g.want(TypeCVV, 2, g.digits(3)), g.want(TypeEmail, 1, g.email()),
		g.keep(TypeCard, g.failsLuhn()))
	g.emit("chat", in)
}

func (g *labelGen) sChatID() {
	in := fmt.Sprintf("User: my passport number is %s and I was born %s. My SSN is %s.\nAgent: Thanks, ticket %s is open.",
		g.want(TypePassport, 2, g.passport()), g.want(TypeDOB, 2, g.dobWords()),
		g.want(TypeSSN, 1, strings.ReplaceAll(g.ssn(), "-", g.pick(" ", ".", "/", "\u00a0", "-"))),
		g.keep(TypeCard, g.snowflake()))
	g.emit("chat", in)
}

func (g *labelGen) sEmail() {
	first, last := g.pick(firstNames...), g.pick(lastNames...)
	in := fmt.Sprintf("From: %s %s <%s>\r\nTo: %s\r\nMessage-ID: <%s.%s@mx.%s>\r\nIn-Reply-To: <%s@mail.%s>\r\nSubject: account\r\n\r\nHi, call me on %s or phone: %s. DOB: %s.\r\n-- \r\nsent from %s",
		first, last, g.want(TypeEmail, 1, g.email()), g.want(TypeEmail, 1, "support@"+g.pick(domains...)),
		g.hexs(10), g.digits(6), g.pick(domains...), g.hexs(20), g.pick(domains...),
		g.want(TypePhone, 1, g.usPhone()), g.want(TypePhone, 2, g.pick("81", "44", "33", "61")+" "+g.digits(9)),
		g.want(TypeDOB, 2, g.dobWords()), g.keep(TypeEmail, "icon@2x.png"))
	g.emit("email", in)
}

func (g *labelGen) sSQL() {
	in := fmt.Sprintf("INSERT INTO customers (email, ssn, phone, card, created) VALUES ('%s', '%s', '%s', '%s', '%s'); -- batch %s",
		g.want(TypeEmail, 1, g.email()), g.want(TypeSSN, 1, g.ssn()), g.want(TypePhone, 1, g.usPhone()),
		g.want(TypeCard, 1, g.cardText()), g.keep(TypeDOB, fmt.Sprintf("2026-01-%02d 10:00:00", g.n(10, 28))),
		g.keep(TypeCard, g.hexs(8)+"-"+g.hexs(4)+"-"+g.hexs(4)+"-"+g.hexs(4)+"-"+g.hexs(12)))
	g.emit("sql", in)
}

func (g *labelGen) sHTTP() {
	bearer := g.hexs(64)
	in := fmt.Sprintf("POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer %s\r\nX-Api-Key: %s\r\n\r\nHTTP/1.1 401 Unauthorized\r\n%s\r\n",
		g.want(TypeAuth, 1, bearer), g.want(TypeSecret, 2, g.from(alnum, 10)+"4"+g.from(alnum, 21)),
		g.keep(TypeAuth, `WWW-Authenticate: Bearer realm="api", error="invalid_token"`))
	g.emit("http", in)
}

func (g *labelGen) sShell() {
	pw := g.password()
	var in string
	switch g.n(0, 4) {
	case 0:
		in = fmt.Sprintf("$ mysql -h db.internal -u root -p %s app_db\n$ %s", g.want(TypePassword, 2, pw), g.keep(TypePassword, "ssh -p 2222 ops@bastion"))
	case 1:
		in = fmt.Sprintf("$ psql --host pg --password %s\n$ %s", g.want(TypePassword, 2, pw), g.keep(TypePassword, "mkdir -p /tmp/out"))
	case 2:
		in = fmt.Sprintf("$ export PGPASSWORD=%s\n$ export %s", g.want(TypePassword, 2, pw), g.keep(TypePassword, "PWD=/srv/app"))
	case 3:
		in = fmt.Sprintf("$ curl -u admin:%s https://api.example.com/v1\n$ %s", g.want(TypePassword, 2, pw), g.keep(TypePassword, "docker run -p 8080:80 web"))
	default:
		in = fmt.Sprintf("$ sshpass -p '%s' ssh deploy@%s", g.want(TypePassword, 2, pw), g.keep(TypeEmail, "bastion"))
	}
	g.emit("shell", in)
}

func (g *labelGen) sURL() {
	pw := g.password()
	host := g.pick("pg-primary.svc.cluster.local", "db.internal.example.net", "redis-0.cache")
	var in string
	switch g.n(0, 2) {
	case 0:
		in = fmt.Sprintf("DATABASE_URL=postgres://app:%s@%s:5432/orders?sslmode=require", g.want(TypePassword, 2, pw), g.keep(TypeEmail, host))
	case 1:
		in = fmt.Sprintf("callback https://api.example.com/cb?token=%s&page=2 from %s", g.want(TypeSecret, 2, g.hexs(64)), g.keep(TypeEmail, "https://"+host+"/health"))
	default:
		in = fmt.Sprintf("amqp://guest:%s@%s/vhost", g.want(TypePassword, 2, pw), g.keep(TypeEmail, host))
	}
	g.emit("url", in)
}

func (g *labelGen) sCSV() {
	_, c := g.card()
	in := fmt.Sprintf("name,email,card,exp,cvv,order\n%s %s,%s,%s,%02d/%d,%s,%s\n",
		g.pick(firstNames...), g.pick(lastNames...), g.want(TypeEmail, 1, g.email()), g.want(TypeCard, 1, c),
		g.n(1, 12), g.n(27, 31), g.want(TypeCVV, 2, g.digits(3)), g.keep(TypeCard, g.failsLuhn()))
	g.emit("csv", in)
}

func (g *labelGen) sYAML() {
	name, tok := g.token()
	in := fmt.Sprintf("database:\n  host: %s\n  user: app\n  password: %s\nservices:\n  upstream:\n    api_key: %s\n    timeout: 30s\n",
		g.keep(TypeIPv4, "127.0.0.1"), g.want(TypePassword, 2, g.password()), g.want(tokenType(name), 1, tok))
	g.emit("yaml", in)
}

func (g *labelGen) sHTML() {
	in := fmt.Sprintf(`<p>Contact <a href="mailto:%s">us</a> or call %s.</p><img src="/img/%s"><p>Ref %s%s-x</p>`,
		g.want(TypeEmail, 1, g.email()), g.want(TypePhone, 1, g.usPhone()), g.keep(TypeEmail, "logo@2x.png"),
		g.pick("ref-", "txn", "ORD_"), g.want(TypeCard, 1, luhnComplete("4"+g.digits(14))))
	g.emit("html", in)
}

func (g *labelGen) sIdentifiers() {
	// Tokens in prose, with look-alikes beside them.
	name, tok := g.token()
	like, text := g.lookalike()
	in := fmt.Sprintf("Rotated the %s credential (%s); the old one was %s. Also saw %s in the logs.",
		name, g.keep(TypeSecret, "max_tokens=2048"), g.want(tokenType(name), 1, tok), g.keep(like, text))
	g.emit("chat", in)
}

func genLabelled() []labelled {
	g := &labelGen{corpusGen: corpusGen{rng: rand.New(rand.NewPCG(17, 2026))}}
	scenarios := []func(){g.sJSONTool, g.sJSONCard, g.sJSONProfile, g.sJSONEscaped, g.sLog, g.sLogToken, g.sChat,
		g.sChatID, g.sEmail, g.sSQL, g.sHTTP, g.sShell, g.sURL, g.sCSV, g.sYAML, g.sHTML, g.sIdentifiers}
	for round := 0; round < 24; round++ {
		for _, s := range scenarios {
			s()
		}
	}
	for i := 0; i < 280; i++ {
		g.sMixed()
	}
	for i := 0; i < 24; i++ {
		g.emit("json", g.paymentRef())
		g.emit("log", "ci: "+g.testSummary())
		g.emit("json", g.agentSession())
	}
	for i := 0; i < 12; i++ {
		g.emit("text", fmt.Sprintf("%s %s <%s>", g.pick(firstNames...), g.pick(lastNames...),
			g.want(TypeEmail, 1, g.digits(g.n(6, 10))+"@"+g.pick("qq.com", "example.cn"))))
	}
	// Look-alikes alone, one per record, in text and in JSON.
	for i := 0; i < 480; i++ {
		like, text := g.lookalike()
		if i%2 == 1 {
			like, text = g.lookalike2()
		}
		g.keep(like, text)
		if i%4 < 2 {
			g.emit("text", "note: "+text+" (checked)")
		} else {
			g.emit("json", jsonDoc(map[string]string{"detail": text}))
		}
	}
	return g.recs
}

// sMixed writes one of many further forms: connection strings, headers,
// keys spelt in other ways, context values in other words.
func (g *labelGen) sMixed() {
	pw := g.password()
	switch g.n(0, 27) {
	case 0:
		g.emit("text", fmt.Sprintf("Server=db01;Database=app;User Id=sa;Password=%s;Encrypt=true", g.want(TypePassword, 2, pw)))
	case 1:
		g.emit("json", jsonDoc(map[string]any{"config": map[string]any{"pwd": g.want(TypePassword, 2, pw), "retries": 3}}))
	case 2:
		g.emit("shell", fmt.Sprintf("redis-cli -h cache -a %s ping", g.want(TypePassword, 2, pw)))
	case 3:
		g.emit("url", fmt.Sprintf("mongodb://svc:%s@%s:27017/admin", g.want(TypePassword, 2, pw), g.keep(TypeEmail, "mongo-0.mongo.svc")))
	case 4:
		g.emit("http", fmt.Sprintf("GET /v1/me HTTP/1.1\r\nX-API-Key: %s\r\nAccept: */*", g.want(TypeSecret, 2, g.hexs(32))))
	case 5:
		g.emit("text", fmt.Sprintf("DefaultEndpointsProtocol=https;AccountName=store1;AccountKey=%s==;EndpointSuffix=core.windows.net",
			g.want(TypeSecret, 2, g.b64(86))))
	case 6:
		g.emit("chat", fmt.Sprintf("Card %s, CVC2: %s, thanks", g.want(TypeCard, 1, g.cardText()), g.want(TypeCVV, 2, g.digits(4))))
	case 7:
		g.emit("json", jsonDoc(map[string]any{"payment": map[string]any{"security_code": g.want(TypeCVV, 2, g.digits(3))}}))
	case 8:
		y, m, d := g.n(1940, 2004), g.n(1, 12), g.n(1, 28)
		g.emit("text", fmt.Sprintf("Date of birth: %s. Visit on %s.", g.want(TypeDOB, 2, fmt.Sprintf("%d-%02d-%02d", y, m, d)),
			g.keep(TypeDOB, fmt.Sprintf("2026-%02d-%02d", g.n(1, 12), g.n(1, 28)))))
	case 9:
		g.emit("text", fmt.Sprintf("patient was born on %s in Lyon", g.want(TypeDOB, 2, fmt.Sprintf("%d %s %d", g.n(1, 28), monthsFull[g.n(0, 11)], g.n(1930, 2004)))))
	case 10:
		g.emit("text", fmt.Sprintf("Tel: %s (office)", g.want(TypePhone, 2, "44 20 "+g.digits(4)+" "+g.digits(4))))
	case 11:
		g.emit("json", jsonDoc(map[string]any{"contact": map[string]any{"mobile": g.want(TypePhone, 2, "55"+g.pick("11", "21")+"9"+g.digits(8))}}))
	case 12:
		s := g.ssn()
		g.emit("text", fmt.Sprintf("SSN: %s", g.want(TypeSSN, 1, strings.ReplaceAll(s, "-", "\u2013"))))
	case 13:
		g.emit("text", fmt.Sprintf("Passport No: %s, expires %s", g.want(TypePassport, 2, g.passport()), g.keep(TypeDOB, "2031-05-01")))
	case 14:
		_, c := g.card()
		g.emit("url", fmt.Sprintf("/checkout?card=%s&amount=12.50&qty=%s", g.want(TypeCard, 1, c), g.keep(TypeCard, fmt.Sprint(g.n(1, 9)))))
	case 15:
		_, c := g.card()
		g.emit("json", fmt.Sprintf(`{"card_number":%s,"order":%d}`, g.want(TypeCard, 1, c), g.n(100000, 999999)))
	case 16:
		name, tok := g.token()
		g.emit("json", jsonDoc(map[string]any{"headers": map[string]any{"access_token": g.want(tokenType(name), 1, tok)}}))
	case 17:
		g.emit("yaml", fmt.Sprintf("smtp:\n  url: smtp://mailer:%s@%s:587\n", g.want(TypePassword, 2, pw), g.keep(TypeEmail, "smtp.example.net")))
	case 18:
		g.emit("text", fmt.Sprintf("export DB_PASSWORD='%s'", g.want(TypePassword, 2, pw)))
	case 20:
		g.emit("shell", fmt.Sprintf("echo ok && docker login -u ci -p %s registry.example.com", g.want(TypePassword, 2, pw)))
	case 21:
		g.emit("text", fmt.Sprintf("DOB %s", g.want(TypeDOB, 2, fmt.Sprintf("%02d/%02d/%02d", g.n(1, 12), g.n(1, 28), g.n(40, 99)))))
	case 22:
		g.emit("chat", fmt.Sprintf("User: call me on %s tomorrow", g.want(TypePhone, 2, g.pick("49", "33", "34")+" "+g.digits(3)+" "+g.digits(7))))
	case 23:
		g.emit("http", fmt.Sprintf("Cookie: theme=dark; sessionid=%s; lang=en", g.want(TypeSecret, 2, g.from(lower+"0123456789", 32))))
	case 24:
		g.emit("text", fmt.Sprintf(`DSN="app:%s@tcp(%s:3306)/orders"`, g.want(TypePassword, 2, pw), g.keep(TypeEmail, "mysql-0.db")))
	case 25:
		g.emit("http", fmt.Sprintf("Ocp-Apim-Subscription-Key: %s", g.want(TypeSecret, 2, g.hexs(32))))
	case 26:
		_, c := g.card()
		g.emit("csv", fmt.Sprintf("%s,%s,%s", g.want(TypeCard, 1, c), g.want(TypeCVV, 2, g.digits(3)), g.keep(TypeCVV, "approved")))
	default:
		g.emit("http", fmt.Sprintf("Authorization: token %s", g.want(TypeGitHubToken, 1, crcToken("ghp_", g.from(alnum, 30)))))
	}
}

// paymentRef is a look-alike: the id of a payment object under a token key.
func (g *labelGen) paymentRef() string {
	return jsonDoc(map[string]any{"payment_method": map[string]any{"token": g.keep(TypeSecret, g.pick("pm_", "tok_", "card_", "src_")+g.from(alnum, 20))}})
}

// testSummary is a look-alike: a test run's counts after words that name
// passwords elsewhere.
func (g *labelGen) testSummary() string {
	return g.keep(TypePassword, fmt.Sprintf("Pass: %d, Fail: %d, Skip: %d", g.n(1, 300), g.n(0, 9), g.n(0, 9)))
}

// agentSession is a look-alike: an agent's session id under its key.
func (g *labelGen) agentSession() string {
	return jsonDoc(map[string]any{"session_id": g.keep(TypeSecret, "sess_"+g.hexs(8)+g.from(alnum, 16)), "event": "tool_call"})
}
