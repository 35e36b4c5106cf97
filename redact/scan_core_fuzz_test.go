package redact

import "testing"

// numberEveryRun is numScan.run without its shortcuts: every digit run,
// '(' and '+' goes to the validators. It is the reference run must agree
// with.
func (n *numScan) numberEveryRun(ms []match) []match {
	s := n.s
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			ms = n.number(i, j, ms)
			i = j - 1
		case c == '(':
			if e := parenPhone(s, i); e > 0 {
				ms = n.add(ms, i, e, kPhone)
			}
		case c == '+':
			if i > 0 && isAlnum(s[i-1]) {
				continue
			}
			if e := plusPhone(s, i); e > 0 {
				ms = n.add(ms, i, e, kPhone)
			}
		}
	}
	return ms
}

// FuzzNumScan_Shortcuts: the digit scan finds what it finds when every
// digit run is tried, with every pack on and in every key context.
func FuzzNumScan_Shortcuts(f *testing.F) {
	for _, s := range []string{
		"trace 8b1d80ceb337c836ede58c0576b0f10f span 783e8e324cc90518",
		"txn4111111111111111x ref-4111111111111111-x id4111111111111111",
		"passport ab123456 X1234567 a1234567B cvv123 dob19750310 tel415-555-0132 ip10.0.0.1",
		"sess_472b1ede2c81 evt_fe29497f88973254 u-78934 claude-3-5-haiku-20241022",
		"DE89370400440532013000 abc12 x1.2.3.4 a1/2/1975 q078-05-1120 z(415) 555-0132",
	} {
		f.Add(s, uint32(0))
		f.Add(s, uint32(ctxPassport|ctxDOB|ctxMRN|ctxSSN|ctxPhone|ctxCVV))
	}
	on := packs["hipaa"] | packs["gdpr"] | packs["in"] | packs["br"]
	f.Fuzz(func(t *testing.T, s string, ctx uint32) {
		n := numScan{s: s, on: on, ctx: keyCtx(ctx)}
		got := normalize(n.run(nil))
		want := normalize(n.numberEveryRun(nil))
		if len(got) != len(want) {
			t.Fatalf("%q: run found %v, every run %v", s, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%q: run found %v, every run %v", s, got, want)
			}
		}
	})
}
