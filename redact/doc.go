// Package redact removes PII and secrets from agent events before anything
// is written. It is the pipeline step between parse and chain: it rewrites
// strings and JSON values and counts what it replaced; it knows nothing of
// records, chains or sinks.
//
// # Basics
//
// Build a Redactor once with [New] and share it (it is immutable and safe
// for concurrent use). [Redactor.JSON] rewrites any JSON value, object keys
// included, into compact JSON; [Redactor.String] rewrites one string. Both
// add one to counts[TYPE] per replacement. A found item is replaced by
// "[REDACTED:TYPE]"; an HTTP credential keeps its scheme word
// ("Authorization: Bearer [REDACTED:AUTH]").
//
// # Packs
//
// Config.Packs names the packs; nil means DefaultPacks (core, secrets).
// docs/redaction.md lists every format of every type with examples.
//
// core:
//   - CARD: 13-19 digits, contiguous or grouped by single spaces or dashes
//     (4-4-4-4, Amex 4-6-5), with a known brand prefix and length (Visa,
//     Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro, Mir,
//     RuPay) and a valid Luhn check digit. An order number that fails Luhn
//     is left alone, and so are groups continuing a longer grouped number
//     (a tracking number), the digits of a decimal number and a 19-digit
//     number under an issuer that issues no 19-digit cards. A card inside
//     a longer token is found (ref-4111111111111111-x) unless the token
//     is all hex digits (a hash, an id).
//   - CVV: 3-4 digits right after cvv, cvc, csc, security code..., under
//     a cvv key, or after a card number and its expiry (see Context).
//   - SSN: ddd-dd-dddd (also split by blanks, dots, slashes, no-break
//     spaces or Unicode dashes, the same twice), never-issued areas (000,
//     666, 900-999), group 00 and serial 0000 excluded (also in us).
//   - PHONE: US numbers (415) 555-0132, 415-555-0132, 415.555.0132,
//     415 555 0132, with optional +1 / 1- prefix; E.164: '+' (not after a
//     letter or digit) and 8-15 digits, a country code of 1-3 digits
//     starting 1-9 unless contiguous, optionally grouped by single spaces
//     or dashes, not followed by a decimal point; a group may be
//     parenthesised (+44 (0)20 ..., +55 (11) ...); national formats with a
//     trunk 0 (UK 020 7946 0958, DE 030/1234567, FR 01 23 45 67 89,
//     IN 022 2345 6789: 9-12 digits in groups of 2-8) or the 00 prefix;
//     Brazil (11) 98765-4321 and 11 98765-4321; India 98765 43210; in
//     phone context, 8-15 digits in up to six groups (81 990888729).
//   - IPV4: dotted quads with octets 0-255, not part of a longer dotted
//     number (versions, OIDs) or followed by a package revision or suffix
//     (1.2.3.4-2, ~rc1, +dfsg), not right after "v" or a word numbering a
//     document part or release (section, sec., §, version, ver., release,
//     rfc, clause, chapter; at most three spaces or marks between).
//     Loopback (127/8), 0.0.0.0 and 255.255.255.255 are left alone.
//   - IPV6: eight groups, or "::"-compressed with at least one decimal
//     digit, optionally ending in a dotted quad. Times (10:30:00) never
//     match; ::1 and :: are left alone.
//   - EMAIL: local@domain.tld, expanded from each '@'; non-ASCII bytes count
//     as address bytes. Not the host of a URL's userinfo, an scp remote
//     (git@github.com:org/repo.git), an asset name (icon@2x.png) or a
//     Message-ID (<...@mx.example.net> on a Message-ID line, under such a
//     key, or machine-made outside From/To/Cc lines).
//
// secrets:
//   - PRIVATE_KEY: a PEM "-----BEGIN ... PRIVATE KEY-----" block (RSA, EC,
//     OPENSSH, ENCRYPTED, PGP ... PRIVATE KEY BLOCK) through its END line,
//     or to the end of the string if the END line is missing; also when
//     its newlines are written as the two bytes \n (JSON inside a JSON
//     string). A base64 run that decodes to such a BEGIN line (the data of
//     a Kubernetes Secret) is replaced whole.
//   - AWS_ACCESS_KEY: AKIA or ASIA and 16 of [A-Z0-9].
//   - AWS_SECRET_KEY: 40 bytes of base64 within 48 bytes after aws_secret,
//     aws secret, secret_access_key or SecretAccessKey (any case), or in the
//     value of a JSON key naming such a field.
//   - GITHUB_TOKEN: ghp_, gho_, ghu_, ghs_, ghr_ and 36 alphanumerics
//     whose last six are the base62 CRC32 of the first 30 (or more than
//     36); github_pat_ and 82+ of [A-Za-z0-9_].
//   - API_KEY: vendor tokens with a fixed prefix or base64 header: Slack
//     xoxb-/xoxp-/xoxa-/xoxe-/xoxr-/xoxs-/xapp- and 20+ bytes; OpenAI,
//     Anthropic and OpenRouter sk- and 32+ bytes of key material; Stripe
//     sk_live_, rk_live_, sk_test_, rk_test_ and 24+ alphanumerics; npm_
//     with its CRC32; Google AIza, ya29., GOCSPX-; SendGrid SG.x.y; AWS
//     session tokens (IQoJb3JpZ2luX2Vj...); Fernet (gAAAAA...); and the
//     table of scan_tokens.go (GitLab, Shopify, DigitalOcean, Hugging Face,
//     PyPI, Vault, Doppler, LangSmith, ...; docs/redaction.md lists them).
//   - JWT: eyJ... base64url header.payload.signature (JWE segments too).
//   - AUTH: the credential after "Authorization:" (any scheme, any shape),
//     in the value of an "Authorization" JSON key, and after a bare
//     "Bearer" / "Basic" when it looks like a credential (not an
//     auth-param: Bearer realm="api").
//   - PASSWORD: the value after a password key (password: X, pwd=X,
//     "password":"X", DB_PASSWORD=X), after --password, after -p of a
//     database client's command line, the password of a URL's userinfo
//     (postgres://app:X@host keeps user and host), or under a password
//     key; not a placeholder (***, <...>, ${VAR}), a path, a flag or a
//     word of prose.
//   - SECRET: key material (8 bytes with a digit and a letter, or 20)
//     after or under a key naming a secret, token or key (token=,
//     api_key:, client_secret, sig=; not a page token or a count).
//
// us: SSN; ITIN (9dd-dd-dddd with an IRS group: 50-65, 70-88, 90-92,
// 94-99); both also as nine bare digits in context; VIN (17 capitals and
// digits with the North American check digit); PASSPORT, MRN (medical
// record number) and DOB in context (see Context).
//
// eu: IBAN (country length, contiguous or in groups of four, mod 97, and
// the national check digits of BE, ES and FR); UK_NINO (AB123456C or
// AB 12 34 56 C with HMRC's prefix rules); DE_TAX_ID (Steuer-ID, 11 digits
// or 2-3-3-3, ISO 7064 MOD 11,10 and the digit-repetition rule); FR_NIR
// (15 digits or 1-2-2-2-3-3-2, key 97 - n mod 97); ES_NIF (DNI 8 digits
// and the mod-23 letter, NIE X/Y/Z + 7 digits + letter); IT_FISCAL_CODE
// (16 characters, month and day checked, check letter).
// PASSPORT in us is a token of 6-9 capitals and digits with 5 digits or
// more (C01X00T47); DOB also takes a month name (March 10, 1975; 10 March
// 1975).
//
// in: IN_PAN (5 capitals with a holder type in the fourth, 4 digits, a
// capital); AADHAAR (12 digits, first 2-9, Verhoeff; grouped 4-4-4
// anywhere, contiguous in context).
//
// br: CPF (ddd.ddd.ddd-dd anywhere, 11 digits in context; two mod-11
// check digits); CNPJ (dd.ddd.ddd/dddd-dd anywhere, 14 digits in context).
//
// names (off by default): NAME, a person's name, found by its context
// only: the value of a key naming a person (full_name, customer_name,
// first_name, patient, recipient...; under "name" only a value that reads
// as a person's), an e-mail display name, 1-3 name words after a
// salutation (Dear, Hi), a title (Mr, Dr, Prof), a role word (patient) or
// in a sign-off (Regards, Thanks, "-- Dana"), and in free text a given
// name of the embedded list before a capitalised surname. ADDRESS: a
// house number, street words and a street type (221B Baker Street, 12 rue
// de Rivoli, Calle Mayor 5, Hauptstraße 5) with its unit and postcode and
// city, or the value of an address key.
//
// hipaa = core + secrets + us + names; pci = core + secrets; gdpr = core +
// secrets + eu + names. A candidate that fails its check digits is left
// alone.
//
// # Context
//
// A weak shape counts only in context: PASSPORT (a token of 6-9 digits
// with up to two capitals before and one after), MRN (a token of 6-12
// capitals and digits with a run of at least 6 digits), DOB (a valid date
// yyyy-mm-dd, dd/mm/yyyy, mm/dd/yyyy, with '/', '.' or '-', year
// 1900-2099), an SSN or ITIN without dashes, a contiguous AADHAAR, CPF or
// CNPJ. Context is a word
// starting within 48 bytes before the candidate and not continuing a word
// on its left (passport, passeport, reisepass, pasaporte, passaporto; dob,
// birth, born, geburt, naissance, nacimiento, nascita, nascimento;
// aadhaar, aadhar, uidai; cpf; cnpj; ssn, social security, itin, taxpayer
// id; mrn, medical record, patient id, chart no, chart number), or the
// JSON object key of the string (with '_', '-', '.' and ' ' removed,
// lower-cased: ending in "dob" or containing "birth", a passport word,
// "aadhaar", "cpf", "cnpj"; ending in "ssn" or "itin" or containing
// "socialsecurity"; ending in "mrn" or containing "medicalrecord" or
// "patientid").
//
// The core and secrets packs have contexts of their own: CVV (cvv, cvc,
// cvv2, csc, security code... right before the code, with only blanks,
// marks and the words is/no/code between; a key ending in cvv, cvc or
// securitycode; a card number and its expiry right before it), PHONE
// without '+' (phone, tel, mobile, cell, fax, whatsapp, msisdn... as whole
// words; a key ending in phone, tel, mobile...), PASSWORD and SECRET (the
// key before ':' or '=', or the JSON key; see the secrets pack), and the
// Message-ID keys and headers that make an address no EMAIL.
//
// Custom rules are Go regular expressions; each masks as
// "[REDACTED:NAME]" (the rule name upper-cased, '-' turned into '_') or is
// replaced as its action says.
//
// # Paths, split values
//
// A [PathRule] replaces a whole JSON value by where it is ("password",
// "*.ssn", "arguments.card.*": keys compared case-insensitively, '*' any
// one key, matched against the end of the value's path; array elements add
// no key). [Redactor.JSONAt] names the field holding the value, so that
// paths can start with it. A value under a path rule is checked but not
// scanned. In an object, consecutive members whose values are 1-7 digits
// (strings or integers) are joined: when a run of them forms a valid card
// in a printed grouping (cc1..cc4) or a US number split 3-7 or 3-3-4
// (area_code, number), each of their values is replaced.
//
// [Redactor.ExplainJSON] and [Redactor.ExplainString] also return each
// replacement as a [Hit]: rule, type, action, the path of the value
// (written from the redacted keys) and byte offsets, never the text.
//
// # Escaped and encoded forms
//
// [Redactor.JSON] walks a string value whose text is a JSON object or
// array (tool arguments often are one) as JSON, at the same path, up to 4
// levels deep; when something in it is replaced it is written back
// compact and escaped, otherwise the string is scanned as text. Integer
// literals of 9-19 digits are scanned too and, when found (a card number
// passed as a number), replaced by a string. In any string, %XX escapes,
// '+' in a space-free token with a '=' (a query string or form body) and
// \uXXXX escapes are decoded, up to three times, and what is found in the
// decoded view is replaced in its encoded form. A base64 PEM private key
// (the data of a Kubernetes Secret) is found by its encoded BEGIN line.
// None of this changes the JSON structure of the output.
//
// # Actions
//
// Every rule, path and built-in type (Config.Actions, by type or by pack)
// has an action:
//   - mask: "[REDACTED:TYPE]" (the default);
//   - hash: the keyed hash (see Hash format);
//   - partial: "[REDACTED:TYPE:last4=1111]" (the last four letters or
//     digits, shown only for values with at least 8 of them), an e-mail
//     address as "[REDACTED:EMAIL:@example.com]"; secrets are masked;
//   - drop: in JSON the object member or array element holding the value
//     is removed (a dropped top-level value becomes null); in a plain
//     string the match is masked.
//
// # Order
//
// Every detector scans the original text; no detector sees another's
// output. When spans overlap they are merged into one replacement that
// covers all of them (text claimed by any detector never survives). A
// built-in detection that contains the others names the replacement (an
// IBAN whose digits also pass as a card is an IBAN); otherwise the type
// first in this order wins: PRIVATE_KEY, AWS_ACCESS_KEY,
// AWS_SECRET_KEY, GITHUB_TOKEN, API_KEY, JWT, AUTH, PASSWORD, SECRET, IBAN,
// CARD, CVV, SSN, ITIN,
// AADHAAR, CPF, CNPJ, DE_TAX_ID, FR_NIR, ES_NIF, IT_FISCAL_CODE, UK_NINO,
// IN_PAN, PASSPORT, DOB, VIN, MRN, PHONE, IPV4, IPV6, EMAIL, then custom
// rules in configuration order. Replacements are then
// applied left to right.
//
// # Speed
//
// No built-in detector uses regexp. One table-driven pass over a string
// (fused, in JSON, with the search for the closing quote) records which
// trigger bytes occur: a digit for numbers, '@' for e-mail, ':' for IPv6,
// '-', 'I', 'J', '_' for the PEM, AWS, JWT, GitHub and API key literals,
// b/k/w/z for the case-insensitive keywords, '%' and '+' for URL
// encoding. Only the scanners whose triggers occur run; each finds
// candidates with byte tests (a digit run of the right length followed by
// the right separator, a literal found by strings.Index) and confirms
// them with a hand-written validator (Luhn, mod 97, Verhoeff, octet
// ranges, group counts). The national identifiers are all anchored on
// digit runs, so they cost nothing on strings without digits; context
// words are looked for only before a candidate that passed its shape
// checks. Every scanner is linear in the string. A string in which nothing
// is found is returned without allocating, and JSON does not allocate for
// input without findings; [Redactor.ExplainJSON] keeps the path of the
// current value as offsets of the keys it wrote and formats a path only
// for a hit. Each pooled walker remembers the short plain strings (keys,
// and values with the context of their key) in which nothing was found,
// so that the keys and the values from short lists an agent repeats on
// every line cost one hash and one comparison. A custom rule with a literal prefix (regexp's LiteralPrefix,
// e.g. "EMP-" in `EMP-\d{6}`) runs only on strings containing the prefix;
// a rule without one (`(?i)...`, alternations, classes first) runs Go's
// regexp on every string and can cost more than all built-in detectors
// together. Throughput per pack is in docs/redaction.md.
//
// # Fail closed
//
// A string longer than [MaxValueBytes], or one whose scanning fails
// (a panic is recovered), is replaced whole by "[REDACTED:UNPROCESSABLE]"
// and counted as UNPROCESSABLE. [Redactor.JSON] returns an error, and
// writes nothing, for input that is not valid JSON, and for a value whose
// redacted form would be longer than [MaxOutputBytes] of it (a long value
// dense in findings shorter than their masks or hashes, [ErrTooLarge]);
// the caller must then not write the input either.
//
// # Hash format
//
// Action "hash" replaces a match (for a path rule, the text of a string
// value or the compact JSON of another value) with "hmac-sha256:<hex>", or
// "hmac-sha256:<kid>:<hex>" when Config.HashKeyID is set, where hex is the
// lower-case HMAC-SHA256 of the matched text under Config.HashKey
// (crypto/hmac and crypto/sha256 only, so the FIPS module is used when Go
// runs in FIPS mode). The same text and key always give the same output,
// so hashed values can be correlated without being revealed; a different
// key gives unrelated output. This format is frozen.
//
// # Caveats
//
//   - Detection is heuristic. A number match never starts or ends inside a
//     longer digit run. A contiguous card number glued to letters is
//     found ("card4111111111111111") unless the whole token is hex, so
//     hex ids and hashes stay intact ("abc4111111111111111def"); SSNs,
//     phone numbers and dotted quads glued to words are found ("ssn123-45-6789"); a four-part version
//     without a version word before it is taken for an address ("build
//     1.2.3.4"; "1.2.3.4.5" and "v1.2.3.4" are left alone).
//     Contiguous national identifiers need word boundaries; national phone
//     formats are not found glued to a word or an identifier
//     ("ORD-0229-385114") or after another group of digits.
//   - Not covered: phone numbers written as bare 10-digit runs outside
//     phone context, SSNs without separators outside context, card
//     numbers split by other separators (non-breaking spaces, dots), dates
//     of birth with a month name in other languages, codice fiscale with
//     omocodia, names and street addresses.
//   - The context given by a JSON key applies only to a string or integer
//     directly under it.
package redact
