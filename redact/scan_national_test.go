package redact

import (
	"strings"
	"testing"
)

func TestString_PhoneNational(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"core"}})
	runStringCases(t, r, []redactCase{
		{"uk london", "call 020 7946 0958 today", "call [REDACTED:PHONE] today", one("PHONE")},
		{"uk mobile", "07700 900123", "[REDACTED:PHONE]", one("PHONE")},
		{"uk manchester", "0161 496 0000", "[REDACTED:PHONE]", one("PHONE")},
		{"uk parens", "(020) 7946 0958", "[REDACTED:PHONE]", one("PHONE")},
		{"uk e164 trunk", "+44 (0)20 7946 0958", "[REDACTED:PHONE]", one("PHONE")},
		{"de berlin", "Tel. 030 12345678", "Tel. [REDACTED:PHONE]", one("PHONE")},
		{"de slash", "030/1234567", "[REDACTED:PHONE]", one("PHONE")},
		{"de slash groups", "089/123 456 78", "[REDACTED:PHONE]", one("PHONE")},
		{"de mobile", "0151 23456789", "[REDACTED:PHONE]", one("PHONE")},
		{"de e164 trunk", "+49 (0)30 12345678", "[REDACTED:PHONE]", one("PHONE")},
		{"de international prefix", "0049 30 12345678", "[REDACTED:PHONE]", one("PHONE")},
		{"fr spaces", "tél 01 23 45 67 89.", "tél [REDACTED:PHONE].", one("PHONE")},
		{"fr dots", "06.12.34.56.78", "[REDACTED:PHONE]", one("PHONE")},
		{"fr e164", "+33 1 23 45 67 89", "[REDACTED:PHONE]", one("PHONE")},
		{"in landline", "022 2345 6789", "[REDACTED:PHONE]", one("PHONE")},
		{"in mobile", "mobile 98765 43210", "mobile [REDACTED:PHONE]", one("PHONE")},
		{"in e164", "+91 98765 43210", "[REDACTED:PHONE]", one("PHONE")},
		{"br parens mobile", "(11) 98765-4321", "[REDACTED:PHONE]", one("PHONE")},
		{"br parens landline", "(21) 3456-7890", "[REDACTED:PHONE]", one("PHONE")},
		{"br mobile", "11 98765-4321", "[REDACTED:PHONE]", one("PHONE")},
		{"br e164", "+55 (11) 98765-4321", "[REDACTED:PHONE]", one("PHONE")},

		{"date dots", "01.02.2024", "01.02.2024", nil},
		{"zip+4", "Boston, MA  02111-1307  USA", "Boston, MA  02111-1307  USA", nil},
		{"date dashes", "05-06-2024 done", "05-06-2024 done", nil},
		{"isbn-10", "ISBN 0-306-40615-2", "ISBN 0-306-40615-2", nil},
		{"version", "v0.12.3", "v0.12.3", nil},
		{"zero-padded short", "room 012 34", "room 012 34", nil},
		{"five-five low", "12345 67890", "12345 67890", nil},
		{"five-five then more", "98765 43210 11111", "98765 43210 11111", nil},
	})
}

func TestString_US(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"us"}})
	runStringCases(t, r, []redactCase{
		{"ssn", "ssn 078-05-1120", "ssn [REDACTED:SSN]", one("SSN")},
		{"itin", "ITIN 912-70-1234", "ITIN [REDACTED:ITIN]", one("ITIN")},
		{"itin group 93", "912-93-1234", "912-93-1234", nil},
		{"passport context", "Passport No. 123456789", "Passport No. [REDACTED:PASSPORT]", one("PASSPORT")},
		{"passport letter", "passport: A12345678", "passport: [REDACTED:PASSPORT]", one("PASSPORT")},
		{"passport no context", "order 123456789 shipped", "order 123456789 shipped", nil},
		{"passport too far", "passport " + strings.Repeat("x", 60) + " 123456789", "passport " + strings.Repeat("x", 60) + " 123456789", nil},
		{"dob iso", "DOB: 1985-03-14", "DOB: [REDACTED:DOB]", one("DOB")},
		{"dob us", "date of birth 03/14/1985", "date of birth [REDACTED:DOB]", one("DOB")},
		{"dob eu", "born on 14.03.1985 in Lyon", "born on [REDACTED:DOB] in Lyon", one("DOB")},
		{"dob impossible", "dob 1985-02-30", "dob 1985-02-30", nil},
		{"date without context", "shipped 1985-03-14", "shipped 1985-03-14", nil},
		{"adobe is not dob", "adobe 1985-03-14", "adobe 1985-03-14", nil},
		{"timestamp", "2025-06-02T09:00:00.001261673Z", "2025-06-02T09:00:00.001261673Z", nil},
	})
}

func TestString_EU(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"eu"}})
	nino := "QQ123456C"
	runStringCases(t, r, []redactCase{
		{"iban de", "IBAN DE89370400440532013000.", "IBAN [REDACTED:IBAN].", one("IBAN")},
		{"iban de grouped", "DE89 3704 0044 0532 0130 00", "[REDACTED:IBAN]", one("IBAN")},
		{"iban gb", "to GB82WEST12345698765432", "to [REDACTED:IBAN]", one("IBAN")},
		{"iban fr", "FR14 2004 1010 0505 0001 3M02 606", "[REDACTED:IBAN]", one("IBAN")},
		{"iban be", "BE68539007547034", "[REDACTED:IBAN]", one("IBAN")},
		{"iban es", "ES91 2100 0418 4502 0005 1332", "[REDACTED:IBAN]", one("IBAN")},
		{"iban bad mod97", "DE89370400440532013001", "DE89370400440532013001", nil},
		{"iban wrong length", "DE8937040044053201300", "DE8937040044053201300", nil},
		{"iban be national check", ibanComplete("BE", "539007547035"), ibanComplete("BE", "539007547035"), nil},
		{"iban inside token", "XDE89370400440532013000", "XDE89370400440532013000", nil},
		{"nino", "NI " + "AB123456C", "NI [REDACTED:UK_NINO]", one("UK_NINO")},
		{"nino spaced", "AB 12 34 56 C", "[REDACTED:UK_NINO]", one("UK_NINO")},
		{"nino bad prefix", nino, nino, nil},
		{"nino bad suffix", "AB123456E", "AB123456E", nil},
		{"steuer-id", "IdNr 86095742719", "IdNr [REDACTED:DE_TAX_ID]", one("DE_TAX_ID")},
		{"steuer-id spaced", "86 095 742 719", "[REDACTED:DE_TAX_ID]", one("DE_TAX_ID")},
		{"steuer-id bad", "86095742718", "86095742718", nil},
		{"nir", "NIR " + nirComplete("1840576451089"), "NIR [REDACTED:FR_NIR]", one("FR_NIR")},
		{"nir spaced", "2 69 05 49 588 157 " + nirComplete("2690549588157")[13:], "[REDACTED:FR_NIR]", one("FR_NIR")},
		{"nir bad key", "184057645108900", "184057645108900", nil},
		{"dni", "DNI 12345678Z", "DNI [REDACTED:ES_NIF]", one("ES_NIF")},
		{"dni dash", "12345678-Z", "[REDACTED:ES_NIF]", one("ES_NIF")},
		{"nie", "NIE X1234567L", "NIE [REDACTED:ES_NIF]", one("ES_NIF")},
		{"dni bad letter", "12345678A", "12345678A", nil},
		{"time fraction", "2025-06-02T09:00:00.12345678Z", "2025-06-02T09:00:00.12345678Z", nil},
		{"codice fiscale", "CF RSSMRA85T10A562S", "CF [REDACTED:IT_FISCAL_CODE]", one("IT_FISCAL_CODE")},
		{"codice fiscale bad", "RSSMRA85T10A562T", "RSSMRA85T10A562T", nil},
	})
}

func TestString_IN(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"in"}})
	a := verhoeffComplete("23456789012")
	runStringCases(t, r, []redactCase{
		{"pan", "PAN ABCPE1234F", "PAN [REDACTED:IN_PAN]", one("IN_PAN")},
		{"pan bad holder", "ABCDE1234F", "ABCDE1234F", nil},
		{"aadhaar grouped", "uid " + a[:4] + " " + a[4:8] + " " + a[8:], "uid [REDACTED:AADHAAR]", one("AADHAAR")},
		{"aadhaar dashes", a[:4] + "-" + a[4:8] + "-" + a[8:], "[REDACTED:AADHAAR]", one("AADHAAR")},
		{"aadhaar contiguous context", "Aadhaar: " + a, "Aadhaar: [REDACTED:AADHAAR]", one("AADHAAR")},
		{"aadhaar contiguous no context", "order " + a, "order " + a, nil},
		{"aadhaar bad check", "2345 6789 0120", "2345 6789 0120", nil},
	})
}

func TestString_BR(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"br"}})
	runStringCases(t, r, []redactCase{
		{"cpf", "CPF 529.982.247-25", "CPF [REDACTED:CPF]", one("CPF")},
		{"cpf contiguous context", "cpf: 52998224725", "cpf: [REDACTED:CPF]", one("CPF")},
		{"cpf contiguous no context", "ref 52998224725", "ref 52998224725", nil},
		{"cpf bad", "529.982.247-26", "529.982.247-26", nil},
		{"cpf repeated", "111.111.111-11", "111.111.111-11", nil},
		{"cnpj", "CNPJ 11.222.333/0001-81", "CNPJ [REDACTED:CNPJ]", one("CNPJ")},
		{"cnpj contiguous context", "cnpj=11222333000181", "cnpj=[REDACTED:CNPJ]", one("CNPJ")},
		{"cnpj bad", "11.222.333/0001-82", "11.222.333/0001-82", nil},
	})
}

func TestJSON_KeyContext(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"us", "in", "br"}})
	a := verhoeffComplete("98765432101")
	in := `{"patient":{"date_of_birth":"1985-03-14","passportNumber":"X1234567","aadhaar_no":"` + a + `","cpf":"52998224725","visit":"2024-01-05"}}`
	want := `{"patient":{"date_of_birth":"[REDACTED:DOB]","passportNumber":"[REDACTED:PASSPORT]","aadhaar_no":"[REDACTED:AADHAAR]","cpf":"[REDACTED:CPF]","visit":"2024-01-05"}}`
	got, err := r.JSON(nil, []byte(in), nil)
	if err != nil || string(got) != want {
		t.Errorf("JSON = %s, %v\nwant %s", got, err, want)
	}
}

func TestNew_Packs(t *testing.T) {
	for _, p := range Packs() {
		if _, err := New(Config{Packs: []string{p}}); err != nil {
			t.Errorf("pack %q: %v", p, err)
		}
		if len(PackTypes(p)) == 0 {
			t.Errorf("pack %q covers nothing", p)
		}
	}
	if got := strings.Join(PackTypes("hipaa"), ","); !strings.Contains(got, "DOB") || !strings.Contains(got, "EMAIL") {
		t.Errorf("hipaa = %s", got)
	}
	if _, err := New(Config{Packs: []string{"core", "mars"}}); err == nil || !strings.Contains(err.Error(), `packs[1]: unknown pack "mars"`) {
		t.Errorf("unknown pack: %v", err)
	}
}

func TestString_BareSSN(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"us"}})
	runStringCases(t, r, []redactCase{
		{"ssn word", "SSN: 078051120", "SSN: [REDACTED:SSN]", one("SSN")},
		{"social security", "social security number 536228765.", "social security number [REDACTED:SSN].", one("SSN")},
		{"itin", "ITIN 912701234", "ITIN [REDACTED:ITIN]", one("ITIN")},
		{"no context", "order 536228765", "order 536228765", nil},
		{"invalid area", "ssn 666228765", "ssn 666228765", nil},
		{"business is not ssn", "business 536228765", "business 536228765", nil},
	})
	got, err := r.JSON(nil, []byte(`{"patient_ssn":"536228765","business_name":"536228765"}`), nil)
	if err != nil || string(got) != `{"patient_ssn":"[REDACTED:SSN]","business_name":"536228765"}` {
		t.Errorf("keys: %s %v", got, err)
	}
}

func TestString_VINAndMRN(t *testing.T) {
	r := mustNew(t, Config{Packs: []string{"us"}})
	runStringCases(t, r, []redactCase{
		{"vin", "VIN 1HGCM82633A004352 on file", "VIN [REDACTED:VIN] on file", one("VIN")},
		{"vin check X", "vehicle " + vinComplete("1M8GDM9A_KP042788"), "vehicle [REDACTED:VIN]", one("VIN")},
		{"vin bad check digit", "1HGCM82643A004352", "1HGCM82643A004352", nil},
		{"vin too long", "1HGCM82633A0043521", "1HGCM82633A0043521", nil},
		{"vin inside token", "x1HGCM82633A004352", "x1HGCM82633A004352", nil},
		{"digits and a zone letter", "16:04:33.9999999999999999Z", "16:04:33.9999999999999999Z", nil},
		{"mrn context", "MRN: 00123456", "MRN: [REDACTED:MRN]", one("MRN")},
		{"medical record", "medical record number A1234567.", "medical record number [REDACTED:MRN].", one("MRN")},
		{"mrn no context", "ticket 00123456", "ticket 00123456", nil},
	})
	got, err := r.JSON(nil, []byte(`{"patient_mrn":"7654321","order":"7654321"}`), nil)
	if err != nil || string(got) != `{"patient_mrn":"[REDACTED:MRN]","order":"7654321"}` {
		t.Errorf("keys: %s %v", got, err)
	}
}
