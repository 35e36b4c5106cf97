package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
)

// action says what replaces a found value.
type action uint8

const (
	actMask    action = iota // "[REDACTED:TYPE]"
	actHash                  // "hmac-sha256:[<kid>:]<hex>"
	actPartial               // "[REDACTED:TYPE:last4=1234]", "[REDACTED:EMAIL:@example.com]"
	actDrop                  // the JSON member or element holding the value is removed
)

// parseAction maps a configured action name to an action; "" is mask.
func parseAction(s string) (action, error) {
	switch s {
	case "", "mask":
		return actMask, nil
	case "hash":
		return actHash, nil
	case "partial":
		return actPartial, nil
	case "drop":
		return actDrop, nil
	}
	return 0, errors.New("must be mask, hash, partial or drop")
}

// Actions lists the action names a rule, path or type may use.
func Actions() []string { return []string{"mask", "hash", "partial", "drop"} }

// appendReplacement appends what replaces text, a span of kind k. Drop
// writes the mask: the caller removes the enclosing member where there is
// one.
func (r *Redactor) appendReplacement(dst []byte, k uint16, text string) []byte {
	kd := &r.kinds[k]
	switch kd.action {
	case actHash:
		return r.appendHash(dst, text)
	case actPartial:
		return appendPartial(dst, kd, text)
	}
	return append(dst, kd.mask...)
}

// partialMin is the shortest value (in letters and digits) whose last four
// are shown by action partial; a shorter one is masked whole.
const partialMin = 8

// appendPartial appends the mask with a visible part: the domain of an
// e-mail address, else the last four letters or digits of a value with at
// least partialMin of them. Secrets never show a part. Only ASCII letters,
// digits, '.' and '-' are ever shown, so the result needs no escaping.
func appendPartial(dst []byte, kd *kind, text string) []byte {
	name := kd.name
	if kd.secret {
		return append(dst, kd.mask...)
	}
	if name == TypeEmail {
		if at := strings.LastIndexByte(text, '@'); at >= 0 && asciiDomain(text[at+1:]) {
			dst = append(dst, "[REDACTED:"+name+":@"...)
			dst = append(dst, text[at+1:]...)
			return append(dst, ']')
		}
		return append(dst, kd.mask...)
	}
	var last [4]byte
	n := 0
	for i := 0; i < len(text); i++ {
		if isAlnum(text[i]) {
			copy(last[:], last[1:])
			last[3] = text[i]
			n++
		}
	}
	if n < partialMin {
		return append(dst, kd.mask...)
	}
	dst = append(dst, "[REDACTED:"+name+":last4="...)
	dst = append(dst, last[:]...)
	return append(dst, ']')
}

func asciiDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; !isAlnum(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// appendHash appends "hmac-sha256:[<kid>:]<hex>" of text.
func (r *Redactor) appendHash(dst []byte, text string) []byte {
	h := r.macs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(text))
	var sum [sha256.Size]byte
	out := h.Sum(sum[:0])
	r.macs.Put(h)
	dst = append(dst, r.hashPrefix...)
	return hex.AppendEncode(dst, out)
}
