package redact

import (
	"fmt"
	"hash/crc32"
	"strconv"
	"testing"
)

// Generators of check-digit-valid values, shared by the validator tests
// and the labelled corpus. Each completes a body with its check digits.

func luhnComplete(body string) string {
	for d := '0'; d <= '9'; d++ {
		if s := body + string(d); luhnValid(s) {
			return s
		}
	}
	panic("unreachable")
}

func ibanComplete(country, bban string) string {
	for cd := 2; cd <= 98; cd++ {
		if s := fmt.Sprintf("%s%02d%s", country, cd, bban); mod97Valid(s) {
			return s
		}
	}
	panic("no check digits for " + country + bban)
}

func verhoeffComplete(body string) string {
	for d := '0'; d <= '9'; d++ {
		if s := body + string(d); verhoeffValid(s) {
			return s
		}
	}
	panic("unreachable")
}

func steuerIDComplete(body10 string) string {
	return body10 + strconv.Itoa(iso7064Mod11_10(body10))
}

func cpfComplete(body9 string) string {
	for cd := 0; cd < 100; cd++ {
		if s := fmt.Sprintf("%s%02d", body9, cd); cpfValid(s) {
			return s
		}
	}
	panic("unreachable")
}

func cnpjComplete(body12 string) string {
	for cd := 0; cd < 100; cd++ {
		if s := fmt.Sprintf("%s%02d", body12, cd); cnpjValid(s) {
			return s
		}
	}
	panic("unreachable")
}

func nirComplete(body13 string) string {
	n, _ := strconv.ParseInt(body13, 10, 64)
	return fmt.Sprintf("%s%02d", body13, 97-n%97)
}

func dniComplete(digits8 string) string {
	return digits8 + string(esDNILetters[atoi(digits8)%23])
}

func fiscalCodeComplete(body15 string) string {
	for c := byte('A'); c <= 'Z'; c++ {
		if s := body15 + string(c); itFiscalCodeValid(s) {
			return s
		}
	}
	panic("unreachable")
}

// crcToken completes prefix + 30 random characters with the base62 CRC32
// GitHub and npm append.
func crcToken(prefix, random30 string) string {
	v := crc32.ChecksumIEEE([]byte(random30))
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = base62Digits[v%62]
		v /= 62
	}
	return prefix + random30 + string(b[:])
}

func TestValidators_KnownValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		got  bool
	}{
		{"luhn visa", true, luhnValid("4111111111111111")},
		{"luhn off by one", false, luhnValid("4111111111111112")},
		{"iban DE", true, mod97Valid("DE89370400440532013000")},
		{"iban GB", true, mod97Valid("GB82WEST12345698765432")},
		{"iban DE swapped digits", false, mod97Valid("DE89370400440532031000")},
		{"iban BE national", true, ibanNationalOK([]byte("BE68539007547034"))},
		{"iban BE national wrong", false, ibanNationalOK([]byte("BE68539007547035"))},
		{"iban ES national", true, ibanNationalOK([]byte("ES9121000418450200051332"))},
		{"iban ES national wrong", false, ibanNationalOK([]byte("ES9121000418460200051332"))},
		{"iban FR national", true, ibanNationalOK([]byte("FR1420041010050500013M02606"))},
		{"iban FR national wrong", false, ibanNationalOK([]byte("FR1420041010050500013M02607"))},
		{"verhoeff 2363", true, verhoeffValid("2363")},
		{"verhoeff 2364", false, verhoeffValid("2364")},
		{"verhoeff transposition", false, verhoeffValid("2633")},
		{"steuer-id", true, steuerIDValid("86095742719")},
		{"steuer-id check digit", false, steuerIDValid("86095742718")},
		{"steuer-id all distinct", false, steuerIDValid(steuerIDComplete("1234567890"))},
		{"steuer-id adjacent triple", false, steuerIDValid(steuerIDComplete("1112345678"))},
		{"steuer-id leading zero", false, steuerIDValid(steuerIDComplete("0112345678"))},
		{"cpf", true, cpfValid("52998224725")},
		{"cpf wrong", false, cpfValid("52998224724")},
		{"cpf repeated", false, cpfValid("11111111111")},
		{"cnpj", true, cnpjValid("11222333000181")},
		{"cnpj wrong", false, cnpjValid("11222333000182")},
		{"cnpj zeros", false, cnpjValid("00000000000000")},
		{"nir", true, frNIRValid(nirComplete("1840576451089"))},
		{"nir wrong key", false, frNIRValid("184057645108900")},
		{"nir corsica", true, frNIRValid("184052A451089" + fmt.Sprintf("%02d", 97-1840519451089%97))},
		{"nir bad month", false, frNIRValid(nirComplete("1841376451089"))},
		{"dni", true, esDNIValid("12345678", 'Z')},
		{"dni wrong", false, esDNIValid("12345678", 'A')},
		{"fiscal code", true, itFiscalCodeValid("RSSMRA85T10A562S")},
		{"fiscal code wrong", false, itFiscalCodeValid("RSSMRA85T10A562T")},
		{"github crc", true, crc32TokenValid(crcToken("", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1")[:36])},
		{"github crc wrong", false, crc32TokenValid("aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1000000")},
		{"itin", true, itinValid(912, 70, 1234)},
		{"itin group 93", false, itinValid(912, 93, 1234)},
		{"ssn area 666", false, ssnValid(666, 12, 3456)},
	} {
		if tc.got != tc.ok {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.ok)
		}
	}
}

// TestValidators_SingleDigitErrors: each validator catches every change of
// one digit of these valid values (CPF and CNPJ do not for every value:
// their mod-11 maps 10 to 0).
func TestValidators_SingleDigitErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		valid string
		check func(string) bool
	}{
		{"luhn", "4111111111111111", luhnValid[string]},
		{"verhoeff", verhoeffComplete("23456789012"), verhoeffValid[string]},
		{"steuer-id", "86095742719", steuerIDValid[string]},
		{"cpf", "52998224725", cpfValid[string]},
		{"cnpj", "11222333000181", cnpjValid[string]},
		{"nir", nirComplete("2690549588157"), frNIRValid[string]},
		{"iban", "DE89370400440532013000", mod97Valid[string]},
	} {
		if !tc.check(tc.valid) {
			t.Fatalf("%s: %s not valid", tc.name, tc.valid)
		}
		for i := 0; i < len(tc.valid); i++ {
			if !isDigit(tc.valid[i]) {
				continue
			}
			for d := byte('0'); d <= '9'; d++ {
				if d == tc.valid[i] {
					continue
				}
				v := tc.valid[:i] + string(d) + tc.valid[i+1:]
				if tc.check(v) {
					t.Errorf("%s: %s passes", tc.name, v)
				}
			}
		}
	}
}

// vinComplete fills the '_' at position 9 of a VIN with its check digit.
func vinComplete(v string) string {
	for _, c := range "0123456789X" {
		if s := v[:8] + string(c) + v[9:]; vinValid(s) {
			return s
		}
	}
	panic("no check digit for " + v)
}
