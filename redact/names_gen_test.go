package redact

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The names fixtures (testdata/names.jsonl) are labelled records of the
// names pack: people's names and street addresses in JSON, chat, e-mail,
// logs, CSV and HTML, each record in one context (key, display,
// salutation, free, address) with the look-alikes that must stay.
// genNames writes them deterministically; `go test -run TestLabelled
// -update` rewrites the file. Some people here have a given name that is
// not on the embedded list, so that free text is scored honestly.

// namesFile holds the names pack's labelled records.
const namesFile = "testdata/names.jsonl"

// Contexts of the names fixtures, in report order.
var nameContexts = []string{"key", "display", "salutation", "free", "address"}

var fixturePeople = []struct{ given, surname string }{
	{"Dana", "Whitfield"}, {"Priya", "Sharma"}, {"Robert", "Chen"}, {"Maria", "Garcia"}, {"Tom", "Becker"},
	{"Siobhan", "O'Brien"}, {"Michael", "Johnson"}, {"Aisha", "Okafor"}, {"Lukas", "Müller"}, {"Camille", "Dubois"},
	{"Giulia", "Rossi"}, {"Rahul", "Iyer"}, {"Fernanda", "Oliveira"}, {"Kenji", "Tanaka"}, {"Sarah", "McCarthy"},
	{"James", "Whitaker"}, {"Elena", "Popescu"}, {"Jennifer", "Lopez"}, {"Omar", "Haddad"}, {"Ingrid", "Larsen"},
	{"Declan", "Byrne"}, {"Natalie", "Fischer"}, {"Carlos", "Mendoza"}, {"Hannah", "Klein"}, {"Peter", "Novak"},
	{"Zainab", "Mensah"}, {"Victor", "Hugo"}, {"Laura", "Bianchi"}, {"Wei", "Zhang"}, {"Olga", "Ivanov"},
	// Given names not on the embedded list.
	{"Thaddeus", "Quill"}, {"Brunhilde", "Achterberg"}, {"Xiomara", "Velásquez"}, {"Oluwaseun", "Adeyemi"},
	{"Eero", "Virtanen"}, {"Saoirse", "Ní Bhriain"},
}

var fixtureAddresses = []string{
	"350 Fifth Avenue, Apt 4B, New York, NY 10118",
	"1600 Amphitheatre Parkway, Mountain View, CA 94043",
	"742 Evergreen Terrace, Springfield",
	"221B Baker Street, London NW1 6XE",
	"10 Downing Street, London SW1A 2AA",
	"4 Privet Drive, Little Whinging",
	"1 Infinite Loop, Cupertino, CA 95014",
	"500 W 2nd St, Suite 1900, Austin, TX 78701",
	"77 Massachusetts Ave, Cambridge, MA 02139",
	"12 rue de Rivoli, 75001 Paris",
	"8 avenue des Champs-Élysées, 75008 Paris",
	"Hauptstraße 5, 10115 Berlin",
	"Berliner Str. 12, 60311 Frankfurt",
	"Lindenweg 3a, 80331 München",
	"Calle Mayor 5, 28013 Madrid",
	"via Roma 10, 00184 Roma",
	"Rua Augusta 1500, 01304 São Paulo",
	"88 Queen Street West, Toronto",
	"25 Oak Lane, Flat 2, Oxford OX1 2JD",
	"1428 Elm St, Unit 7, Springfield, IL 62704",
}

func genNames() []labelled {
	g := &labelGen{}
	p := func(i int) (string, string) {
		x := fixturePeople[i%len(fixturePeople)]
		return x.given, x.surname
	}
	full := func(i int) string { a, b := p(i); return a + " " + b }
	setCtx := func(c string) { g.cur.Ctx = c }
	js := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}

	// key: names by their object key.
	keys := []string{"name", "full_name", "customer_name", "patient", "employee", "recipient", "cardholder_name",
		"contactName", "Patient Name", "guardian"}
	for i := range fixturePeople {
		setCtx("key")
		k := keys[i%len(keys)]
		v := full(i)
		if k == "name" && i%3 == 0 {
			v = fixturePeople[i%len(fixturePeople)].surname + ", " + fixturePeople[i%len(fixturePeople)].given
		}
		g.emit("json", js(map[string]any{"tool": "crm.lookup", "arguments": map[string]any{k: g.want(TypeName, 2, v), "tier": "gold"},
			"id": fmt.Sprintf("call_%04d", i)}))
		setCtx("key")
		a, b := p(i + 3)
		g.emit("json", js(map[string]any{"contact": map[string]any{"first_name": g.want(TypeName, 2, a),
			"last_name": g.want(TypeName, 2, b), "plan": "pro"}}))
	}
	for _, v := range []string{"get_weather", "search_web", "Kubernetes", "prod-cluster-1", "Jasmine Core", "billing-v2",
		"Production Database", "Weekly Report", "gpt-4o-mini", "Main", "us-east-1", "Order Service", "README.md",
		"Jenkins Pipeline", "Redis Cache"} {
		setCtx("key")
		g.emit("json", js(map[string]any{"type": "function", "name": g.keep(TypeName, v), "arguments": map[string]any{"q": "x"}}))
	}

	// display: e-mail display names.
	for i := range fixturePeople {
		setCtx("display")
		a, b := p(i)
		mail := strings.ToLower(strings.ReplaceAll(a, " ", "")) + "@example.com"
		var in string
		switch i % 4 {
		case 0:
			in = fmt.Sprintf("From: \"%s\" <%s>\nTo: ops@example.com\nSubject: refund\n\nSee attached.", g.want(TypeName, 2, a+" "+b), g.want(TypeEmail, 1, mail))
			g.emit("email", in)
		case 1:
			in = fmt.Sprintf("To: %s <%s>, \"GitHub\" <%s>\nSubject: build", g.want(TypeName, 2, a+" "+b), g.want(TypeEmail, 1, mail),
				g.want(TypeEmail, 1, "noreply@github.com"))
			g.keep(TypeName, "\"GitHub\"")
			g.emit("email", in)
		case 2:
			g.emit("json", js(map[string]any{"tool": "email.send", "arguments": map[string]any{
				"from": fmt.Sprintf("%s <%s>", g.want(TypeName, 2, a+" "+b), g.want(TypeEmail, 1, mail)), "subject": "Invoice"}}))
		case 3:
			in = fmt.Sprintf("level=info msg=\"mail queued\" rcpt=\"\\\"%s\\\" <%s>\"", g.want(TypeName, 2, b+", "+a), g.want(TypeEmail, 1, mail))
			g.emit("log", in)
		}
	}
	for _, v := range []string{"Support Team", "GitHub", "Jira Notifications", "AWS Billing", "no-reply", "Security Alerts"} {
		setCtx("display")
		g.emit("email", fmt.Sprintf("From: %s <%s>\nMessage-ID: %s", g.keep(TypeName, v), g.want(TypeEmail, 1, "alerts@example.net"),
			g.keep(TypeEmail, "<a1b2c3@mx.example.net>")))
	}

	// salutation: greetings, titles, roles, sign-offs.
	for i := range fixturePeople {
		setCtx("salutation")
		a, b := p(i)
		switch i % 6 {
		case 0:
			g.emit("email", fmt.Sprintf("Dear %s,\n\nYour order has shipped.\n\nKind regards,\n%s", g.want(TypeName, 2, a), g.want(TypeName, 2, full(i+1))))
		case 1:
			g.emit("chat", fmt.Sprintf("Hi %s, the deploy finished. Thanks, %s", g.want(TypeName, 2, a), g.want(TypeName, 2, full(i+2))))
		case 2:
			g.emit("json", js(map[string]any{"role": "assistant", "content": fmt.Sprintf("Dr. %s will see the patient %s at 10:30.",
				g.want(TypeName, 2, b), g.want(TypeName, 2, full(i+4)))}))
		case 3:
			g.emit("html", fmt.Sprintf("<p>Dear Ms %s,</p><p>We received your claim.</p><p>Sincerely,<br>\n%s</p>", g.want(TypeName, 2, b),
				g.want(TypeName, 2, full(i+5))))
		case 4:
			g.emit("chat", fmt.Sprintf("Hello Mr. %s: your ticket is closed.\n-- %s", g.want(TypeName, 2, a+" "+b), g.want(TypeName, 2, full(i+6))))
		case 5:
			g.emit("log", fmt.Sprintf("2026-03-01T10:00:00Z INFO consent form signed by %s (Prof. %s witness)", g.want(TypeName, 2, full(i)),
				g.want(TypeName, 2, full(i+7))))
		}
	}
	for _, v := range []string{"Dear Sir or Madam,", "Hi team,", "Hello World", "Hi there,", "Dear Customer,", "Thanks, team!",
		"Best practices for rollouts", "Regards to the ops team", "Dear Hiring Manager,", "Hi all,", "Patient ID 55120",
		"Thank you for your patience.", "Best Regards Inc. filed", "Dr. Pepper in the fridge"} {
		setCtx("salutation")
		g.emit("chat", "Note: "+g.keep(TypeName, v)+" The rollout is at 50%.")
	}

	// free: a given name and a surname with nothing around them.
	frees := []string{"I spoke with %s about the refund.", "Escalated to %s yesterday.", "%s approved the change.",
		"owner=%s region=eu", "Meeting notes: %s will follow up on the invoice."}
	for i := range fixturePeople {
		setCtx("free")
		f := frees[i%len(frees)]
		v := full(i)
		if strings.HasPrefix(f, "owner=") {
			g.emit("log", fmt.Sprintf("level=info msg=\"ticket assigned\" "+f, fmt.Sprintf("%q", g.want(TypeName, 2, v))))
			continue
		}
		g.emit("chat", fmt.Sprintf(f, g.want(TypeName, 2, v)))
	}
	for i := 0; i < 10; i++ {
		setCtx("free")
		g.emit("csv", fmt.Sprintf("id,customer,plan\n%d,%s,pro\n%d,%s,free", 100+i, g.want(TypeName, 2, full(i*3)), 200+i, g.want(TypeName, 2, full(i*3+1))))
	}
	for _, v := range []string{"Jasmine Core", "Amber Flux 4", "Ruby Gems", "Victoria Metrics", "Grace Period", "Mark Complete",
		"Amber Alert", "Jasmine Tea", "Chase Bank", "Jordan River", "Will Deploy", "Max Retries", "Rose Garden",
		"Julia Set", "Mason Jar", "Hazel Nuts", "The Kubernetes Operator", "Apache Kafka", "Grafana Loki", "Sage Maker",
		"Victor Ops", "Hope Diamond", "Lincoln Memorial", "Austin Texas", "Phoenix Server", "Logan Airport"} {
		setCtx("free")
		g.emit("chat", "Status: "+g.keep(TypeName, v)+" looks fine. Next step is review.")
	}

	// address: streets with their unit, postcode and city.
	for i, a := range fixtureAddresses {
		setCtx("address")
		g.emit("json", js(map[string]any{"tool": "shipping.create", "arguments": map[string]any{"address": g.want(TypeAddress, 2, a), "sku": "A-100"}}))
		setCtx("address")
		g.emit("chat", fmt.Sprintf("Please ship it to %s by Friday.", g.want(TypeAddress, 2, a)))
		setCtx("address")
		switch i % 3 {
		case 0:
			g.emit("email", fmt.Sprintf("Our new office:\n%s\nCall before visiting.", g.want(TypeAddress, 2, a)))
		case 1:
			g.emit("log", fmt.Sprintf("level=warn msg=\"address unverified\" input=%q", g.want(TypeAddress, 2, a)))
		case 2:
			g.emit("html", fmt.Sprintf("<address>%s</address>", g.want(TypeAddress, 2, a)))
		}
	}
	// Postcode and city without a street.
	for i, pc := range []string{"Springfield, IL 62704", "Mountain View, CA 94043", "Austin, TX 78701-1234", "London SW1A 1AA",
		"Oxford, OX1 2JD", "10115 Berlin", "75001 Paris", "28013 Madrid"} {
		g.cur.Ctx = "address"
		switch i % 3 {
		case 0:
			g.emit("chat", fmt.Sprintf("She moved to %s last year.", g.want(TypeAddress, 2, pc)))
		case 1:
			g.emit("csv", fmt.Sprintf("id,location\n%d,%s\n", i, g.want(TypeAddress, 2, pc)))
		case 2:
			g.emit("email", fmt.Sprintf("Anschrift:\n%s\nDeutschland", g.want(TypeAddress, 2, pc)))
		}
	}
	for _, v := range []string{"Apple M1 8GB laptop", "region CA 12345", "returned 10000 Errors", "12345 Main", "node M2 4GB",
		"Version 2 Street Fighter", "3 Main branches", "Berlin", "5 Star Rating", "listening on 8080 Main loop",
		"42 Lane Detection model", "build 1.2.3", "Node 20 LTS", "chapter 12 Park", "10 Best Practices", "port 443 Way too slow",
		"Paris", "London", "2024 Road map", "Sprint 14 Review", "Take 5 Drive Thru"} {
		setCtx("address")
		g.emit("chat", "Update: "+g.keep(TypeAddress, v)+" noted.")
	}
	lookAlikes(g)
	return g.recs
}

// lookAlikes: text with capitalised words, products, models, places and
// numbers that the names pack must leave alone, in every format.
func lookAlikes(g *labelGen) {
	products := []string{"Jasmine Core", "Ruby Opus 4", "Amber Flux 4.5", "Gemini Pro", "Llama 3.1", "Mistral Large",
		"GitHub Actions", "Visual Studio Code", "Google Cloud Run", "Amazon Web Services", "Azure Key Vault",
		"Apache Kafka", "Grafana Loki", "Victoria Metrics", "Ruby on Rails", "Jupyter Notebook", "Julia Computing",
		"Jenkins Pipeline", "Terraform Cloud", "Slack Connect", "Microsoft Teams", "Zoom Rooms", "Datadog Agent",
		"Red Hat OpenShift", "Ubuntu 22.04 Jammy", "Windows Server 2022", "Oracle Database 19c", "Redis Stack",
		"Elastic Search", "Sentry Relay", "Mark Complete", "Grace Period", "Max Retries", "Will Deploy",
		"Chase Bank", "Amber Alert", "Rose Garden", "Jordan River", "Austin Texas", "Lincoln Memorial"}
	places := []string{"Berlin", "Paris", "Springfield", "London", "New York", "Frankfurt am Main", "São Paulo", "Mumbai",
		"Toronto", "Madrid"}
	code := []string{"func Main()", "public static void Main(string[] args)", "Main.java", "git checkout Main",
		"class Person:", "def get_name(self):", "user.first_name", "SELECT first_name, last_name FROM users",
		"First Name,Last Name,Email", "v1.2.3", "release 2.14.0", "Python 3.12", "Node 20 LTS", "go1.23.4",
		"Version 2 Street Fighter", "3 Main branches", "port 8080 Main loop", "Sprint 14 Review", "Take 5 Drive Thru",
		"10 Best Practices", "5 Star Rating", "2024 Road map", "42 Lane Detection model", "chapter 12 Park"}
	starts := []string{"Deploy Finished", "Build Failed", "Review Requested", "Pending Approval", "Order Shipped",
		"Thanks for waiting", "Dear Sir or Madam", "Hi team", "Hello World", "Dear Customer", "Regards to the team",
		"Best practices", "Patient ID 55120", "Dr. Pepper", "Thank you for your patience", "Hi there"}
	var all []string
	all = append(all, products...)
	all = append(all, places...)
	all = append(all, code...)
	all = append(all, starts...)
	js := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	for i, v := range all {
		ctx := "free"
		like := TypeName
		switch {
		case i >= len(products) && i < len(products)+len(places)+len(code):
			ctx, like = "address", TypeAddress
		case i >= len(products)+len(places)+len(code):
			ctx = "salutation"
		}
		g.cur.Ctx = ctx
		g.emit("json", js(map[string]any{"role": "assistant", "content": "Checked: " + g.keep(like, v) + ". Next step is review."}))
		g.cur.Ctx = ctx
		g.emit("log", fmt.Sprintf("2026-03-01T10:00:00Z INFO step=%d msg=%q", i, g.keep(like, v)))
		g.cur.Ctx = ctx
		switch i % 3 {
		case 0:
			g.emit("html", "<li>"+g.keep(like, v)+"</li>")
		case 1:
			g.emit("csv", fmt.Sprintf("id,item,status\n%d,%s,done", i, g.keep(like, v)))
		case 2:
			g.emit("chat", "Status: "+g.keep(like, v)+" looks fine.")
		}
	}
}
