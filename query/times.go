package query

import (
	"errors"
	"time"
)

// Errors of ParseTime; their text is what a 400 says after the
// parameter's name.
var (
	ErrTimeSyntax = errors.New("must be an RFC 3339 time")
	ErrTimeRange  = errors.New("must be a time in the years 0001 to 9999 UTC")
)

// ParseTime parses a time bound given by a reader (from and to of a query
// or an export, the position in a cursor, the export command's --from and
// --to): RFC 3339 with a zone offset (hours 00 to 23 and minutes 00 to
// 59, as RFC 3339 says, where Go's parser takes +24:00 and +23:60), whose
// instant falls in the years 0001 to 9999 once converted to UTC. It
// returns the time in UTC.
//
// The stores keep times as record.TimeLayout text in UTC and compare them
// as text, which orders them only while the year has four digits:
// 9999-12-31T23:59:59-23:59 is in the year 10000 in UTC, and
// 0001-01-01T00:00:00+01:00 in the year 0. Such a bound would select
// records by the order of its digits, not by time, so it is refused.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !offsetInRange(s) {
		return time.Time{}, ErrTimeSyntax
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, ErrTimeRange
	}
	return t, nil
}

// offsetInRange reports whether the numeric zone offset ending s, if it
// has one, has hours 00 to 23 and minutes 00 to 59; s parsed as RFC 3339.
func offsetInRange(s string) bool {
	n := len(s)
	if n < 6 || (s[n-6] != '+' && s[n-6] != '-') {
		return true // Z
	}
	hh := int(s[n-5]-'0')*10 + int(s[n-4]-'0')
	mm := int(s[n-2]-'0')*10 + int(s[n-1]-'0')
	return hh <= 23 && mm <= 59
}
