// Package console serves a read-only web view of the audit records, for
// the compliance officers and auditors who read them without curl. It is
// mounted at /console/ on the API listener when server.console is true.
//
// # Sign-in
//
// A reader pastes a bearer token of the tokens file into the sign-in
// form; it is checked by query.Reader as a token of GET /v1/audit is (an
// admin role; a tenant scope restricts every page to that tenant). The
// token is then forgotten: the session keeps the token's principal (its
// name and tenant), and the browser gets a random session id (32 bytes
// from crypto/rand) in a cookie that is HttpOnly, SameSite=Strict,
// Path=/console/, Secure under TLS, and expires with the session
// (Config.SessionTTL, 8 h by default). A sign-in always gets a new id and
// ends the session the browser held. Sessions live in memory: a restart
// signs everyone out. At most Config.MaxSessions are open at once, and
// one token holds at most a 64th of them (at least one), so that signing
// in again and again with one token does not lock the others out; past
// either bound a sign-in is refused until a session expires or signs out.
//
// Failed sign-ins are bounded per client address (the connection's IP,
// or its /64 for IPv6; no forwarding header is trusted) and overall: an
// address may fail 5 times, then each failure makes it wait before its
// next try (1 s, doubled per failure, at most 15 min), and a try before
// then is 429 with Retry-After, the token not looked at. Sign-ins sent
// together count as if sent one after another: beside tries not yet
// answered, an address gets only those that could not all fail past its
// free failures. While more
// than 100 sign-ins failed in the last minute from all addresses, an
// address's first failure already makes it wait. An address that has
// not failed is never refused, so a correct token from elsewhere signs
// in; a successful sign-in forgets its address's failures. Failures are
// counted in audit_console_signin_failures_total{reason} (invalid_token,
// role, rate_limited) and logged (sampled) without the token. The token
// is still compared in constant time with every configured hash.
//
// The only POSTs are sign-in, sign-out and the start of a verification
// (which reads the store and changes nothing). Each must come from the
// console's own pages: SameSite=Strict cookies, a Sec-Fetch-Site or
// Origin header naming another site refused (Origin: null, which the
// console's own forms send under no-referrer, proves nothing), and a CSRF token in the
// form (sign-in: the value of a short-lived cookie set with the form;
// sign-out and verification: the session's own token), compared in
// constant time.
//
// # Pages
//
//	GET  /console/search   the filters of /v1/audit as a GET form (works
//	                       without JavaScript), a table of one page of
//	                       records and a link to the next one (keyset
//	                       paging: the cursor of /v1/audit)
//	GET  /console/record   one record (?chain=&seq=&ts=): its fields, its
//	                       redaction manifest as "EMAIL replaced at
//	                       arguments.email" (never a value), and its
//	                       stored JSON with its MAC, byte for byte what
//	                       /v1/audit serves (a record over 1 MiB: its
//	                       JSON cut at 1 MiB and each field at 64 KiB,
//	                       and the page says so)
//	GET  /console/story    every record of one session (?session=), trace
//	                       (?trace=) or call id (?call_id=), or of a call id
//	                       within one trace or session (?call_id=&trace=,
//	                       what a record links to: the trace's or the
//	                       session's index, where the call id alone has
//	                       none and is read window by window), oldest first, in words ("Approval
//	                       denied by maria for payments.refund") with the
//	                       chain that logged each (ids are what agents
//	                       wrote: another agent may log under them), a tool
//	                       call or result that follows a denied approval of
//	                       its call id flagged, saying so when the denial is
//	                       another chain's; one page of /v1/audit of up
//	                       to 1000 records (and about 4 MiB of them), with
//	                       a link to the rest; a page after the first
//	                       also reads the story's denials before it (up to
//	                       10 pages of them), so a denial flags the tool
//	                       however many records an agent logs between them
//	GET  /console/overview a window of whole hours (?hours= 1, 6, 24, 72
//	                       or 168, ending at ?end= or the end of this
//	                       hour) as inline SVG charts, each with a table of
//	                       its numbers: records per hour by kind of
//	                       action, approvals requested, granted and
//	                       denied, parse errors and gaps, redactions by
//	                       type, and for a token of every tenant the
//	                       newest checkpoint record's age and the sinks'
//	                       lag (from the sidecar's own metrics: "not
//	                       available" for the console alone). Two
//	                       statements of the store, each over the
//	                       window's newest records only (50 000 for the
//	                       counts, 5 000 for the redactions, whose
//	                       payloads are read); the page says when the
//	                       window held more
//	GET  /console/integrity     the store's verification (Config.Integrity:
//	                       the verifier of `audit-sidecar verify`): the
//	                       last verdict, when it ran and who asked, each
//	                       problem and what is and is not protected in
//	                       plain words; POST starts one in the
//	                       background, or joins the one running (one at
//	                       a time); GET /console/integrity/progress is
//	                       its progress as JSON, for integrity.js
//	GET  /console/evidence.zip  the evidence bundle (?from=&to= on
//	                       ingested_at, as `export`), streamed: the
//	                       export NDJSON, its verification report (HTML
//	                       and JSON), the checkpoints' public keys and
//	                       witnessed checkpoints, SHA256SUMS and a README
//	                       for an offline check; one at a time. The
//	                       export is kept in a temp file (Integrity.TempDir)
//	                       while it is verified
//	GET  /console/signin, POST /console/signin, POST /console/signout
//
// The integrity page and the bundle need a token without a tenant scope:
// verification covers whole chains, which hold every tenant's records;
// a tenant's token gets 403 and no link to them.
//
// What an agent wrote is text on every page, never markup or a link's
// target; a bidirectional control of Unicode in it (U+202E, which would
// reorder the words after it) is shown as "[U+202E]", in the stored JSON
// too. The search table and a story show at most 512 bytes of each of a
// record's strings, and link to no story of a session, trace or call id longer
// than 2 KiB (no request could carry it).
//
// A request without a valid session is sent to the sign-in page (303).
// Every response carries a Content-Security-Policy that allows nothing
// but the console's own stylesheet and scripts (no inline script, no
// frames, forms posting only to the console), X-Content-Type-Options:
// nosniff, Referrer-Policy: no-referrer and Cache-Control: no-store. The
// only script, integrity.js, shows a verification's progress; without
// it the page reloads itself. Nothing in the console changes a record.
package console
