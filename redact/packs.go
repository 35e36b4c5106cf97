package redact

import (
	"fmt"
	"slices"
)

// Type names: the X in "[REDACTED:X]" and the keys of the counts map.
const (
	TypePrivateKey    = "PRIVATE_KEY"
	TypeAWSAccessKey  = "AWS_ACCESS_KEY"
	TypeAWSSecretKey  = "AWS_SECRET_KEY"
	TypeGitHubToken   = "GITHUB_TOKEN"
	TypeAPIKey        = "API_KEY"
	TypeJWT           = "JWT"
	TypeAuth          = "AUTH"
	TypePassword      = "PASSWORD"
	TypeSecret        = "SECRET"
	TypeCard          = "CARD"
	TypeCVV           = "CVV"
	TypeIBAN          = "IBAN"
	TypeSSN           = "SSN"
	TypeITIN          = "ITIN"
	TypeAadhaar       = "AADHAAR"
	TypeCPF           = "CPF"
	TypeCNPJ          = "CNPJ"
	TypeDETaxID       = "DE_TAX_ID"
	TypeFRNIR         = "FR_NIR"
	TypeESNIF         = "ES_NIF"
	TypeITFiscalCode  = "IT_FISCAL_CODE"
	TypeUKNINO        = "UK_NINO"
	TypeINPAN         = "IN_PAN"
	TypePassport      = "PASSPORT"
	TypeDOB           = "DOB"
	TypeVIN           = "VIN"
	TypeMRN           = "MRN"
	TypePhone         = "PHONE"
	TypeIPv4          = "IPV4"
	TypeIPv6          = "IPV6"
	TypeEmail         = "EMAIL"
	TypeAddress       = "ADDRESS"
	TypeName          = "NAME"
	TypeUnprocessable = "UNPROCESSABLE"
)

// Built-in kinds in priority order: when detections overlap, the merged
// span is labelled with the kind listed first. Custom rules follow, in
// configuration order.
const (
	kPrivateKey = iota
	kAWSAccessKey
	kAWSSecretKey
	kGitHubToken
	kAPIKey
	kJWT
	kAuth
	kPassword
	kSecret
	kIBAN
	kCard
	kCVV
	kSSN
	kITIN
	kAadhaar
	kCPF
	kCNPJ
	kDETaxID
	kFRNIR
	kESNIF
	kITFiscalCode
	kUKNINO
	kINPAN
	kPassport
	kDOB
	kVIN
	kMRN
	kPhone
	kIPv4
	kIPv6
	kEmail
	kAddress
	kName
	numBuiltin
)

var builtinTypes = [numBuiltin]string{
	TypePrivateKey, TypeAWSAccessKey, TypeAWSSecretKey, TypeGitHubToken, TypeAPIKey, TypeJWT, TypeAuth,
	TypePassword, TypeSecret, TypeIBAN, TypeCard, TypeCVV, TypeSSN, TypeITIN, TypeAadhaar, TypeCPF, TypeCNPJ, TypeDETaxID, TypeFRNIR,
	TypeESNIF, TypeITFiscalCode, TypeUKNINO, TypeINPAN, TypePassport, TypeDOB, TypeVIN, TypeMRN,
	TypePhone, TypeIPv4, TypeIPv6, TypeEmail, TypeAddress, TypeName,
}

// kindSet is a set of built-in kinds, bit k for kind k.
type kindSet uint64

func (s kindSet) has(k int) bool { return s&(1<<k) != 0 }

func setOf(ks ...int) kindSet {
	var s kindSet
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}

// Kinds found by the digit scanner, and those that need the context of a
// nearby word or an object key.
var (
	numericKinds = setOf(kCard, kCVV, kIBAN, kSSN, kITIN, kAadhaar, kCPF, kCNPJ, kDETaxID, kFRNIR, kESNIF,
		kITFiscalCode, kUKNINO, kINPAN, kPassport, kDOB, kVIN, kMRN, kPhone, kIPv4)
	secretKinds = setOf(kPrivateKey, kAWSAccessKey, kAWSSecretKey, kGitHubToken, kAPIKey, kJWT, kAuth,
		kPassword, kSecret)
	contextKinds = setOf(kPassport, kDOB, kMRN, kAadhaar, kCPF, kCNPJ)
	splitKinds   = setOf(kCard, kPhone)
	nameKinds    = setOf(kAddress, kName)
)

// packs maps each pack name to its kinds. The jurisdiction packs add
// identifiers; the compliance packs are unions of the others.
var packs = map[string]kindSet{
	"core":    setOf(kCard, kCVV, kSSN, kPhone, kIPv4, kIPv6, kEmail),
	"secrets": secretKinds,
	"us":      setOf(kSSN, kITIN, kPassport, kDOB, kVIN, kMRN),
	"eu":      setOf(kIBAN, kUKNINO, kDETaxID, kFRNIR, kESNIF, kITFiscalCode),
	"in":      setOf(kINPAN, kAadhaar),
	"br":      setOf(kCPF, kCNPJ),
	"names":   nameKinds,
}

func init() {
	packs["hipaa"] = packs["core"] | packs["secrets"] | packs["us"] | packs["names"]
	packs["pci"] = packs["core"] | packs["secrets"]
	packs["gdpr"] = packs["core"] | packs["secrets"] | packs["eu"] | packs["names"]
}

// Packs lists the names New accepts in Config.Packs, sorted.
func Packs() []string {
	out := make([]string, 0, len(packs))
	for p := range packs {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// PackTypes lists the types a pack covers, in priority order, or nil for
// an unknown pack.
func PackTypes(pack string) []string {
	s, ok := packs[pack]
	if !ok {
		return nil
	}
	var out []string
	for k := range numBuiltin {
		if s.has(k) {
			out = append(out, builtinTypes[k])
		}
	}
	return out
}

// TypeNames lists every built-in type in priority order.
func TypeNames() []string { return append([]string(nil), builtinTypes[:]...) }

// packSet returns the union of the named packs, reporting unknown names.
func packSet(names []string, bad func(item string, err error)) kindSet {
	var on kindSet
	for i, p := range names {
		s, ok := packs[p]
		if !ok {
			bad(fmt.Sprintf("packs[%d]", i), fmt.Errorf("unknown pack %q", p))
			continue
		}
		on |= s
	}
	return on
}

// kindOf returns the built-in kind of a type name, or -1.
func kindOf(t string) int {
	for k, name := range builtinTypes {
		if name == t {
			return k
		}
	}
	return -1
}
