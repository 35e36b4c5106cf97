package console

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/verify"
)

// readmeFacts are what README.txt says of its bundle.
type readmeFacts struct {
	Now      time.Time
	By       string // the token's name that downloaded it
	From, To string // the export's bounds on ingested_at ("" none)
	Bytes    int64  // the export's size
	Report   *verify.Report
	Files    *EvidenceFiles
}

// readmeText is the bundle's README.txt: what each file is, and how an
// external auditor checks the bundle offline, with the binary or with
// the Python verifier, on the files as they are named in the bundle.
func readmeText(f readmeFacts) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	span := "every record of the store"
	switch {
	case f.From != "" && f.To != "":
		span = "the records written to the trail from " + f.From + " (inclusive) to " + f.To + " (exclusive)"
	case f.From != "":
		span = "the records written to the trail from " + f.From + " (inclusive)"
	case f.To != "":
		span = "the records written to the trail before " + f.To
	}
	p("AUDIT EVIDENCE BUNDLE")
	p("")
	p("Made by the audit console of audit-sidecar on %s for the token %q.", f.Now.Format("2006-01-02 15:04:05 UTC"), f.By)
	p("It holds %s, every chain (whole chains: the records of every tenant).", span)
	p("")
	p("FILES")
	p("")
	p("  export.ndjson     the records (%d bytes), byte for byte as", f.Bytes)
	p("                    `audit-sidecar export --config F%s` writes them.", exportFlags(f.From, f.To))
	p("  report.html       the verification report of export.ndjson, made by the console when it")
	p("                    made this bundle (open it in a browser); report.json is the same for")
	p("                    scripts (`verify --json`). Verdict: %s.", f.Report.Verdict)
	for _, k := range f.Files.PublicKeys {
		p("  keys/%-12s the public key that checks the signatures of the checkpoints.", path.Base(k.Name))
	}
	for _, c := range f.Files.Checkpoints {
		p("  witness/%-9s a checkpoint kept off the pod (the witness): a signed statement of", path.Base(c.Name))
		p("                    how many records a chain held and their Merkle root.")
	}
	p("  SHA256SUMS        the SHA-256 of each file above.")
	p("")
	p("The HMAC keys that make each record's integrity code (MAC) are secret and are not")
	p("in this bundle: ask the operator for them (key ids and fingerprints are in report.html).")
	p("")
	p("HOW TO CHECK IT OFFLINE")
	p("")
	p("1. Check that the files are as they were made:")
	p("")
	p("     sha256sum -c SHA256SUMS")
	p("")
	p("2. Verify the records with the audit-sidecar binary (same version or newer):")
	p("")
	args := verifyArgs(f.Files)
	p("     audit-sidecar verify --file export.ndjson%s", args)
	p("")
	p("   Add --key-file FILE for each HMAC key the operator gives you: every record's MAC")
	p("   is then checked too. Add --report my-report.html for a report of your own.")
	p("   Exit code: 0 valid, 1 invalid (tampering or damage), 3 unverifiable, 2 usage error.")
	p("")
	p("3. Or with Python 3 alone, with the project's independent verifier")
	p("   (tools/verify_export.py in the audit-sidecar source, standard library only):")
	p("")
	p("     python3 verify_export.py export.ndjson%s", args)
	p("")
	p("   It takes the same --key-file flags and gives the same exit codes.")
	p("")
	if len(f.Files.PublicKeys) == 0 {
		p("This store signs no checkpoints: without the HMAC keys (--key-file) nothing can be")
		p("checked, and with them the newest records could be cut unnoticed.")
		p("")
	}
	p("WHAT THE VERDICT MEANS")
	p("")
	headline, summary := f.Report.InWords()
	p("%s.", headline)
	p("%s", summary)
	p("")
	p("An export ends where it was taken: it must match the witnessed checkpoints it")
	p("reaches. report.html says, in plain words, each problem found, and what remains")
	p("unprotected (what the keys and checkpoints given to the check could not prove).")
	return b.String()
}

// exportFlags are the export command's flags for the bounds.
func exportFlags(from, to string) string {
	s := ""
	if from != "" {
		s += " --from " + from
	}
	if to != "" {
		s += " --to " + to
	}
	return s
}

// verifyArgs are verify's flags for the bundle's keys and witness.
func verifyArgs(f *EvidenceFiles) string {
	var s string
	for _, k := range f.PublicKeys {
		s += " --pubkey keys/" + path.Base(k.Name)
	}
	if len(f.PublicKeys) > 0 && f.SignerName != "" {
		s += " --signer-name " + f.SignerName
	}
	if len(f.Checkpoints) > 0 {
		s += " --witness witness"
	}
	return s
}
