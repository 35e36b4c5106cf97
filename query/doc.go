// Package query serves the audit records to compliance officers over HTTP.
//
// NewHandler returns an http.Handler for the routes below; it reads from a
// [Store] (a sink that can search) and authenticates with tokens loaded by
// [LoadTokens]. Every response body is JSON (Content-Type
// application/json, Cache-Control no-store) except /metrics and the
// NDJSON export, and every response, errors included, carries
// X-Content-Type-Options: nosniff. Only GET is allowed: any other method
// is 405 with Allow: GET. Unknown paths are 404.
//
// [NewReader] gives the same reads to a reader in the process that is
// not an HTTP client of them (the console, package console): [Reader]
// authenticates a token once into a [Principal] (its name and tenant,
// never the token) and serves pages through the same parsing, tenant
// scoping, cursors and bound on concurrent queries as the routes below.
//
// # GET /v1/audit
//
// Authentication: "Authorization: Bearer <token>". The SHA-256 of the
// token is compared in constant time with every configured hash. A missing
// header, another scheme (Basic) or an unknown token is 401 with
// WWW-Authenticate: Bearer. A token whose role is not admin is 403. A token
// with a tenant sees only that tenant: without a tenant parameter the
// query is restricted to it, and any other tenant is 403. Tokens are never
// logged; log lines name the token by its configured name. Checks run in
// this order: token (401), role (403), parameters (400), tenant scope
// (403), cursor binding (400), the bound on concurrent queries (429).
//
// Parameters (all optional, filters combine with AND):
//
//	from, to   RFC 3339 times (offset hours 00 to 23) in the years 0001
//	           to 9999 once converted to UTC (see [ParseTime]); from is
//	           inclusive, to exclusive; from < to
//	tenant, user, tool, model, session, trace, chain
//	           exact match on the record field
//	call_id    exact match on the record's detail.call_id as text (a string's
//	           value; a number, true or an object as written: 1e3, not 1000)
//	action     one of record.Actions
//	outcome    one of record.Outcomes
//	limit      page size, 1..1000, default 100
//	cursor     next_cursor of the previous page
//
// An unknown parameter, a repeated parameter, an empty value or an invalid
// value is 400, so that a typo never silently widens a query. Parameters
// are checked in name order and the body names the first bad one:
// {"error":"limit: must be an integer from 1 to 1000"}. Errors never echo
// parameter values.
//
// 200 returns one page:
//
//	{"records":[{...,"mac":"<hex>"}, ...],"next_cursor":"<opaque>"|null}
//
// Each record is its stored canonical payload with its MAC added as a
// final "mac" key (see package record), byte for byte what was chained, so
// that a reader can verify it. next_cursor is null on the last page.
//
// trace is indexed in both stores (SQLite schema 3, PostgreSQL schema
// 6). A filter that no index of the store serves (call_id, user, action,
// tool, outcome, model, session, chain on SQLite; model, call_id and the
// bulk actions and outcomes on PostgreSQL) is checked row by row while
// the store walks its time index (or the tenant's): the store examines at
// most 100 000 rows for one request (sink.SearchBoundError), so a filter
// that matches few rows may end a page with fewer than limit records,
// even none, and a next_cursor that resumes where the store stopped.
// Follow next_cursor until null, as always; a short page is not the last
// one unless its next_cursor is null. For a tenant-scoped token the walk
// is over the tenant's records only, so the cursor names one of them. A
// store statement that runs past its deadline (10 s) is 503 with
// Retry-After before the status is sent.
//
// A page is written as the store yields it (Store.SearchEach reads it in
// chunks of about a MiB), never built in memory first, so its size does
// not bound the memory of the process; it has no Content-Length beyond
// 32 KiB. The status goes out with the first 32 KiB: a store that fails
// before gets a clean 500, one that fails after (or returns a row outside
// the token's tenant, or a malformed one) cuts the response (the
// connection closes before the end of the chunked body), so that a client
// never takes part of a page for all of it.
//
// # Concurrent queries
//
// At most Config.MaxConcurrentQueries requests for records (pages and
// exports; server.max_concurrent_queries, default 4) are served at once,
// and one token holds at most half of them (at least one). Past the
// bound a request waits in a short queue (at most two requests per slot,
// each for at most 2 s): a page is usually served in milliseconds, so a
// client that sends a few requests together is served rather than
// bounced. A request of a token that holds its share waits in a queue of
// the token's own (two requests per slot of its share), never in the
// shared one. A request that finds its queue full, or waits in vain, is
// 429 {"error":"too many concurrent queries; retry later"} with
// Retry-After: 1. Refusals are counted (audit_queries_rejected_total), the
// queries served are a gauge (audit_queries_in_flight).
//
// A page or an export is written with the connection's write deadline
// renewed before each write by Config.WriteStall (20 s): a client that
// reads slowly but steadily is served, one that stops reading is cut
// then and its slot freed, whatever server.timeouts.write allows for the
// whole response.
//
// Requests without a valid token (401) are counted by
// audit_http_unauthorized_total{reason} (missing, invalid) and logged at
// most 5 times per 10 s: an anonymous client does not decide how much the
// sidecar logs.
//
// # GET /v1/audit?format=ndjson
//
// Streams an export (Content-Type application/x-ndjson) that
// `audit-sidecar verify --file` checks offline: per chain, its records in
// seq order, checkpoints included, one per line (docs/chain-format.md,
// "Export files"). It takes only chain (one chain; default all), from and
// to (RFC 3339, on ingested_at, the sidecar's clock, so that each chain's
// part is contiguous; the years 0001 to 9999 UTC, as for a page); any
// other parameter is 400, and so is from not before to, as for a page;
// a chain the store holds no record of is 404. A tenant-scoped token
// is 403: a tenant's records alone are not a verifiable chain. If the
// store fails mid-stream the body ends with an "export_error" line, which
// no verifier accepts.
//
// Order: records are sorted by event time (ts), then chain id, then seq.
// This order is total ((chain, seq) is unique) and stable across pages:
// the stores are append-only, and paging is by keyset (each page starts
// strictly after the last record of the previous one), so following
// next_cursor until null returns every record that matched when the first
// page was read exactly once, even while new records arrive. A record that
// arrives later with an event time before the cursor's position is not
// returned by that walk; start a new query to see it.
//
// Cursor: base64url (no padding) of a small JSON object holding the
// position of the last record served (ts, chain, seq) and a hash of the
// query's filters (from, to, tenant after token scoping, user, action,
// tool, outcome, model, session, chain). Treat it as opaque. A cursor that
// does not decode, or whose position no store can hold (a seq past
// 2^63-1, a time outside the years 0001 to 9999 UTC), is 400
// "cursor: malformed"; one used with other filters
// is 400 "cursor: issued for different filters". limit may change between
// pages. The cursor grants nothing: the token is checked on every page.
//
// Other statuses: 500 {"error":"internal error"} when the store fails
// before the page's first bytes were sent (the cause is logged, never
// returned); 503 when the client went away, or when a store statement ran
// past its deadline (with Retry-After).
//
// # GET /healthz, GET /readyz, GET /metrics
//
// /healthz is 200 {"status":"ok"} while the process serves. /readyz is 200
// {"status":"ready"} when Config.Ready returns nil, else 503
// {"status":"not ready","reason":"<error>"}. /metrics serves
// Config.Metrics when set. These routes need no token.
package query
