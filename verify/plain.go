package verify

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/fips-agents/audit-sidecar/chain"
)

// Problem is one problem of a report in plain words: what happened, where,
// and what it means, for a reader who is not an engineer. Reason is the
// verifier's own text, as in the report's problems.
type Problem struct {
	Chain   string `json:"chain"`
	Seq     uint64 `json:"seq,omitempty"`
	Through uint64 `json:"through,omitempty"`
	// About is what the problem is about: "record", "records" (a range),
	// "chain" (the chain as a whole, not one record), "witness" (a
	// checkpoint kept off the pod) or "input" (all that was read).
	About string `json:"about"`
	// Kind is "invalid" (proof of tampering or damage) or "unverifiable"
	// (could not be checked with what was given).
	Kind   string `json:"kind"`
	What   string `json:"what"`
	Where  string `json:"where"`
	Means  string `json:"means"`
	Reason string `json:"reason"`
	// Known is false when the reason has no plain explanation yet: What
	// is then the reason itself.
	Known bool `json:"known"`
}

// Kinds of Problem.
const (
	KindInvalid      = "invalid"
	KindUnverifiable = "unverifiable"
)

// Abouts of Problem.
const (
	AboutRecord  = "record"
	AboutRecords = "records"
	AboutChain   = "chain"
	AboutWitness = "witness"
	AboutInput   = "input"
)

// plainRule explains the reasons that match re (anchored). what and means
// are expanded with re's submatches ($1, ${1}). about forces the scope
// (AboutChain, AboutWitness); "" takes it from the problem's seqs.
type plainRule struct {
	re          *regexp.Regexp
	about       string
	what, means string
}

func rule(re, about, what, means string) plainRule {
	return plainRule{regexp.MustCompile("^(?s:" + re + ")$"), about, what, means}
}

// Words used below, the same as in the report's glossary: a record's
// "integrity code (MAC)", a "signed checkpoint", the "witness" (a copy of
// a checkpoint kept off the pod), a "key period (epoch)".
var plainRules = sync.OnceValue(func() []plainRule {
	return []plainRule{
		// Order and presence of records.
		rule(`seq out of order or duplicated \(expected (\d+)\)`, "",
			"A record appears out of order or twice (record $1 was expected at this place).",
			"The order of the stored records was changed, or a record was copied in. A chain's records follow one another without repeats."),
		rule(`records missing`, "",
			"Records are missing from the chain.",
			"These records were deleted, or never reached this store. What they said cannot be known from this store, and no retention purge accounts for their absence."),
		rule(`records missing \(no retention_purge record covers them\)`, "",
			"The oldest records of the chain are missing, and no retention purge accounts for them.",
			"Old records may only be removed by the retention policy, which first writes a record into the chain saying which records it removes. No such record accounts for these: they were removed some other way."),
		rule(`chain has no records`, AboutChain,
			"The chain is listed in the store but holds no records.",
			"Every record of the chain was removed."),

		// One record's content.
		rule(`payload does not decode`, "",
			"The record's stored content cannot be read as an audit record.",
			"The stored bytes were damaged or replaced; what the record said is lost."),
		rule(`payload is not in canonical form`, "",
			"The record's stored content is not in the exact form the sidecar writes.",
			"The content was rewritten after it was written, even if it reads the same."),
		rule(`payload names chain "(.*)"`, "",
			`The record says it belongs to another chain ("$1").`,
			"A record was copied in from another chain."),
		rule(`payload names seq (\d+)`, "",
			"The record says it is record $1, not the one stored at this place.",
			"Records were moved or swapped."),
		rule(`payload prev is not a 32-byte hex value`, "",
			"The record's link to the record before it is malformed.",
			"The record's content was altered."),
		rule(`first record is "(.*)", not chain_start`, "",
			`The chain's first record is a "$1" record, not the record that starts a chain.`,
			"The beginning of the chain was replaced."),
		rule(`first record's prev is not zero`, "",
			"The chain's first record links to a record before it, which a first record cannot have.",
			"The beginning of the chain was replaced."),
		rule(`prev does not match the mac of seq (\d+)`, "",
			"This record does not link to record $1 before it.",
			"Records were inserted, removed or replaced between the two: the chain is broken here."),
		rule(`stored mac is not 32 bytes`, "",
			"The record's stored integrity code (MAC) is damaged.",
			"The stored record was altered."),
		rule(`mac mismatch`, "",
			"The record's content does not match its integrity code (MAC).",
			"The record was changed after it was written, or forged without the key. What it says now cannot be trusted."),
		rule(`no key for kid "(.*)"`, "",
			`The record names the HMAC key "$1", which this check was not given, so its integrity code (MAC) was not checked.`,
			"The record could be neither confirmed nor refuted: it may have been altered. If the operator holds a key with that id, check again with it (--key-file); a key id that no key of the operator has is itself a sign of forgery."),
		rule(`column (\S+) does not match the payload`, "",
			`The database's search column "$1" differs from the record's sealed content.`,
			"The database was edited: searches on this column may show false values. The sealed content, which is what counts, is reported on separately."),

		// Keys and key periods.
		rule(`key changed from "(.*)" to "(.*)" without a key_rotation record`, "",
			`The sealing key changed from "$1" to "$2" without the record that hands one key over to the next.`,
			"Records from here on were sealed with a key the chain never handed over to: they may be forged."),
		rule(`key_rotation record names no new_kid`, "",
			"A key change record does not name the next key.",
			"The record was altered or forged."),
		rule(`seal record does not name its own epoch (\d+)`, "",
			"A record that closes key period (epoch) $1 names another period.",
			"The record was altered or forged."),
		rule(`epochs begin at epoch (\d+), not 1`, "",
			"The key periods (epochs) begin at period $1, not 1.",
			"Records of the first key periods are missing, or records were forged with a later key."),
		rule(`epochs switched off after epoch (\d+)`, "",
			"Key periods (epochs) stop after period $1.",
			"Records may have been written with the original key to escape the protection that closed key periods give."),
		rule(`the new key of a rotation begins at epoch (\d+), not 1`, "",
			"After a key change, the new key's periods (epochs) begin at period $1, not 1.",
			"Records of the new key's first periods are missing, or were forged with a later key."),
		rule(`epoch (\d+) follows the seal of epoch (\d+)`, "",
			"Key period (epoch) $1 follows the close of period $2, not the next period.",
			"Records of whole key periods are missing, or were rewritten."),
		rule(`epoch (\d+) begins without a seal of epoch (\d+)`, "",
			"Key period (epoch) $1 begins, but period $2 was never closed.",
			"The record that closed the period was removed, or records were forged with a later key."),
		rule(`epoch (\d+) after epoch (\d+)`, "",
			"A record of key period (epoch) $1 comes after one of the later period $2.",
			"Records were moved, or sealed again with an older key."),

		// Signed checkpoints.
		rule(`checkpoint record carries no signed note`, "",
			"A checkpoint record carries no signed checkpoint.",
			"The checkpoint record was altered or forged."),
		rule(`checkpoint is not signed by a trusted key`, "",
			"A checkpoint is not signed by any public key given to this check.",
			"It could be neither confirmed nor refuted: check again with the right public key (--pubkey). If it is the right key, someone else signed the checkpoint."),
		rule(`checkpoint signature does not verify`, "",
			"A checkpoint's signature does not match its content.",
			"The checkpoint was altered or forged."),
		rule(`checkpoint note is malformed`, "",
			"A signed checkpoint is malformed.",
			"The checkpoint was altered or forged."),
		rule(`checkpoint states chain "(.*)" size (\d+), but it is record (\d+) of chain "(.*)"`, "",
			`A checkpoint describes chain "$1" with $2 records, but it is stored as record $3 of chain "$4".`,
			"A checkpoint was copied or moved here from another place."),
		rule(`checkpoint's head mac is not the mac of seq (\d+)`, "",
			"The signed checkpoint names another last record than the record $1 stored.",
			"Records up to $1 were sealed again after the checkpoint was signed: someone holding the HMAC key rewrote them."),
		rule(`checkpoint's time is not the ingested_at of its record`, "",
			"A signed checkpoint states another time than the record that carries it.",
			"The record carrying the checkpoint was altered after it was signed, or the checkpoint was moved here."),
		rule(`records (\d+)\.\.(\d+) do not match the merkle root signed at seq (\d+)`, "",
			"Records $1 to $2 are not those that the signed checkpoint at record $3 vouches for.",
			"These records were changed, added or removed after they were signed."),
		rule(`records (\d+)\.\.(\d+) are covered by no signed tree state \(they share a merkle subtree with records not given\), and no HMAC key was given: nothing vouches for them`, "",
			"Records $1 to $2 are not covered by any signed checkpoint, and no HMAC key was given to check their integrity codes (MACs).",
			"They follow records that were not given (purged, left out of the export, or missing), with which they share the part of the signed tree that vouches for them: they could have been changed and this check could not tell. Check again with the HMAC key (--key-file)."),

		// Retention purges.
		rule(`retention_purge record has no valid through_seq`, "",
			"A retention purge record does not say which records it removed.",
			"The record was altered or forged."),
		rule(`retention_purge record has no valid cutoff and policy\.max_age`, "",
			"A retention purge record does not state its cutoff time and retention period.",
			"The record was altered or forged."),
		rule(`retention_purge purges records younger than its policy \(cutoff (.+), max_age (.+)\)`, "",
			"A retention purge removes records newer than its own policy allows (cutoff $1, records kept for $2).",
			"The retention mechanism was used to justify deleting recent records."),
		rule(`retention_purge record covers itself \(through_seq (\d+)\)`, "",
			"A retention purge record claims to remove itself (through record $1).",
			"The record was altered or forged."),
		rule(`retention_purge record, but the config sets no retention\.max_age: no record may be purged`, "",
			"A retention purge record removed records, but the configuration sets no retention period.",
			"Without a retention policy no record may be removed: the purge was forged, or the configuration checked is not the one in force."),
		rule(`retention_purge keeps records for (\S+), less than the config's retention\.max_age (\S+)`, "",
			"A retention purge kept records for $1 only, less than the $2 the configuration requires.",
			"Records were removed before the retention policy allowed it: the purge was forged, or the configuration checked is not the one in force."),
		rule(`retention_purge's cutoff (\S+) is less than its max_age (\S+) before this verification`, "",
			"A retention purge removes records up to $1, which is not yet $2 ago.",
			"The purge is dated in the future or forged: records were removed that the policy still keeps."),
		rule(`retention_purge through seq (\d+) purges the checkpoint witnessed at (\S+) \(size (\d+)\), which is not older than its cutoff (\S+)`, "",
			"A retention purge removes records up to $1, among them a checkpoint kept off the pod from $2 ($3 records), which is not older than the purge's cutoff ($4).",
			"The purge removed records newer than it says: it was forged to erase history that the copy kept off the pod vouches for."),
		rule(`seq 1\.\.(\d+) were purged by the retention_purge record at seq (\d+), which no checkpoint signed by a trusted key covers: .*`, "",
			"Records 1 to $1 are gone under a retention purge (record $2) that no signed checkpoint covers yet.",
			"A purge is trusted only once a signed checkpoint vouches for it (the sidecar writes one right after each purge). Until then it cannot be told from one forged with the HMAC key alone; check again later."),
		rule(`first kept record does not link to the purge boundary of seq (\d+)`, "",
			"The first record kept after a retention purge does not link to the last record it removed (the purge is record $1).",
			"Records were removed or replaced at the edge of the purge."),

		// Witnessed checkpoints and freshness.
		rule(`records 1\.\.(\d+) differ from the witnessed checkpoint of (.+) \(rollback or rewrite\)`, "",
			"Records 1 to $1 are not those that the checkpoint kept off the pod (of $2) vouches for.",
			"The history was rewritten, or replaced by an older copy, after that checkpoint was published."),
		rule(`the witnessed checkpoint of size (\d+) could not be compared: .*`, "",
			"The checkpoint kept off the pod (of $1 records) could not be compared with the store.",
			"Records missing before it leave the store unproven against the copy kept off the pod."),
		rule(`the store ends at seq (\d+), but a witnessed checkpoint of (.+) covers (\d+) records .*`, "",
			"The store ends at record $1, but the checkpoint kept off the pod (of $2) shows that the chain held $3 records.",
			"The newest records were removed (truncation), or an older copy of the store was put back (rollback)."),
		rule(`(\d+) witnessed checkpoints \(sizes (\d+)\.\.(\d+)\) could not be compared: .*`, "",
			"$1 checkpoints kept off the pod (of $2 to $3 records) could not be compared with the store.",
			"Records missing before them leave the store unproven against the copies kept off the pod."),
		rule(`the export ends at seq (\d+), before the witnessed checkpoint of (.+) \((\d+) records\), and reaches no witnessed checkpoint it can be compared with: .*`, "",
			"The export ends at record $1, before the checkpoint kept off the pod (of $2, $3 records), and reaches no checkpoint kept off the pod that it can be compared with.",
			"The export may be an honest copy taken earlier, but that it belongs to the witnessed chain cannot be shown. Check it with a checkpoint witnessed when it was taken (the sidecar's stdout lines, --checkpoint)."),
		rule(`(.+) holds no record of this chain, but a witnessed checkpoint of (.+) covers (\d+) records .*`, AboutChain,
			"No record of this chain is left, but the checkpoint kept off the pod (of $2) shows that it held $3 records.",
			"The chain was deleted, emptied or replaced."),
		rule(`(.+) names this chain, but the store holds no record of it, and no witnessed checkpoint says whether it had any.*`, AboutChain,
			"The chain is expected ($1 names it), but the store holds no record of it.",
			"Either the store was emptied or the chain was never written to; without a checkpoint kept off the pod the two cannot be told apart."),
		rule(`the store holds no audit records: (.*)`, AboutInput,
			"The store named by the configuration holds no audit records: $1.",
			"Nothing in it could be checked. It was replaced or emptied, was never written by the sidecar, or the configuration names the wrong file or database. A chain that a checkpoint kept off the pod or the configuration names is listed as holding no record."),
		rule(`export line (\d+) (?:does not end in a newline|is longer than|is empty|ends in a carriage return|is not a record line|is a malformed start line).*`, AboutInput,
			"Line $1 of the export is not a line that audit-sidecar export writes.",
			"The export file was edited, damaged or cut short after it was written, or it is not an export: that line was not read as a record. An export is evidence only as it was written."),
		rule(`export line (\d+): (?:a start line of chain|a second start line of chain|chain ".*" begins at seq).*`, AboutInput,
			"Line $1 of the export, which says where a chain's records begin, does not agree with the records.",
			"The lines of the export were edited, moved, or put together from several exports after it was written."),
		rule(`(\d+) more export lines, up to line (\d+), break the export's framing \(not listed\)`, AboutInput,
			"$1 more lines of the export, up to line $2, are not lines that audit-sidecar export writes.",
			"The export file was edited, damaged or cut short after it was written."),
		rule(`the input holds no records: .*`, AboutInput,
			"The input holds no records at all.",
			"There is nothing to check. A store that was emptied looks exactly like one that was never written to, so an empty input is never taken as valid."),
		rule(`witnessed checkpoint is not signed by a trusted key`, AboutWitness,
			"A checkpoint kept off the pod is not signed by any public key given to this check.",
			"It was not used. Check again with the right public key (--pubkey); if it is the right key, the copy kept off the pod is a forgery."),
		rule(`witnessed checkpoint: (.*)`, AboutWitness,
			"A checkpoint kept off the pod is damaged or forged ($1).",
			"It was not used, and the copy kept off the pod cannot be relied on."),
		rule(`no HMAC key was given and no signed checkpoint covers any record.*`, AboutChain,
			"Nothing vouches for this chain: no HMAC key was given, and no signed checkpoint covers any of its records.",
			"None of its records could be confirmed."),
		rule(`the newest checkpoint is older than the freshness bound (\S+), or there is none.*`, AboutChain,
			"The chain's newest signed checkpoint is older than the freshness bound ($1), or it has none.",
			"The newest records may have been cut off together with their checkpoints; this check cannot tell."),
	}
})

// rfc3339 matches the times that reasons and exposure lines carry
// (record.FormatTime); plain words show them to the second, in UTC.
var rfc3339 = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\b(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z\b`)
})

func expand(r plainRule, template, src string, m []int) string {
	return rfc3339().ReplaceAllString(string(r.re.ExpandString(nil, template, src, m)), "$1 $2 UTC")
}

// Explain puts a problem in plain words. A reason that no rule knows
// keeps its own text as What (Known false).
func Explain(e *chain.VerifyError) Problem {
	p := Problem{Chain: e.Chain, Seq: e.Seq, Through: e.Through, Kind: KindInvalid, Reason: e.Reason,
		What: e.Reason, Means: "This problem has no explanation in plain words yet; its technical reason is shown as it is."}
	if e.Unverifiable {
		p.Kind = KindUnverifiable
	}
	about := ""
	for _, r := range plainRules() {
		if m := r.re.FindStringSubmatchIndex(e.Reason); m != nil {
			p.What = expand(r, r.what, e.Reason, m)
			p.Means = expand(r, r.means, e.Reason, m)
			p.Known, about = true, r.about
			break
		}
	}
	switch {
	case about == AboutInput || e.Chain == "" && e.Seq == 0:
		p.About = AboutInput
		p.Where = "the input as a whole"
	case about == AboutWitness:
		p.About = AboutWitness
		p.Where = fmt.Sprintf("the checkpoint of chain %q kept off the pod (%d records)", e.Chain, e.Seq)
	case about == AboutChain || e.Seq == 0:
		p.About = AboutChain
		p.Where = fmt.Sprintf("chain %q as a whole", e.Chain)
	case e.Through > e.Seq:
		p.About = AboutRecords
		p.Where = fmt.Sprintf("chain %q, records %d to %d", e.Chain, e.Seq, e.Through)
	default:
		p.About = AboutRecord
		p.Where = fmt.Sprintf("chain %q, record %d", e.Chain, e.Seq)
	}
	return p
}

// unprotectedRules put the exposure lines of Run in plain words.
var unprotectedRules = sync.OnceValue(func() []plainRule {
	return []plainRule{
		rule(`no HMAC key given: MACs were not checked.*`, "",
			"No HMAC key was given, so no record's integrity code (MAC) was checked: records are vouched for only by the signed checkpoints that cover them.", ""),
		rule(`no public key given \(--pubkey\).*`, "",
			"No public key was given, so no checkpoint signature was checked: whoever holds the HMAC key could have rewritten a chain together with its checkpoints.", ""),
		rule(`no witnessed checkpoint given.*`, "",
			"No checkpoint kept off the pod (a witness) was compared: if the newest records were cut off together with their checkpoints, only the freshness bound (--max-age) could tell.", ""),
		rule(`chain (.+?): the export starts at seq (\d+); seq 1\.\.(\d+) were not given and are not verified`, "",
			`Chain "$1": the export starts at record $2; records 1 to $3 were not in it and were not checked.`, ""),
		rule(`chain (.+?): no checkpoint: seq 1\.\.(\d+) are not signed; removal of the newest records is not detectable`, "",
			`Chain "$1": no signed checkpoint, so none of its records (1 to $2) is signed; had its newest records been removed, this check could not tell.`, ""),
		rule(`chain (.+?): signed up to seq (\d+) at (\S+); seq (\d+)\.\.(\d+) not yet covered by a checkpoint`, "",
			`Chain "$1": records 1 to $2 are signed (checkpoint of $3); records $4 to $5 came after the newest signed checkpoint, so their removal, or their rewriting by someone holding the HMAC key, would not be detected.`, ""),
		rule(`checkpoint public keys are not bound to chains: .*`, "",
			"The public keys given are trusted for every chain alike: whoever holds the signing key of one sidecar could sign checkpoints of another's chain.", ""),
		rule(`chain (.+?): signed from seq (\d+) up to seq (\d+) at (\S+); seq (\d+)\.\.(\d+) not yet covered by a checkpoint`, "",
			`Chain "$1": records $2 to $3 are signed (checkpoint of $4); records $5 to $6 came after the newest signed checkpoint, so their removal, or their rewriting by someone holding the HMAC key, would not be detected.`, ""),
		rule(`chain (.+?): signed from seq (\d+) up to seq (\d+) at (\S+) \(the head\)`, "",
			`Chain "$1": records $2 to $3 are covered by signed checkpoints (the newest of $4); no newer record is left unsigned.`, ""),
		rule(`chain (.+?): seq (\d+)\.\.(\d+) are covered by no signed checkpoint \(they share a Merkle subtree with records before them that were not given\): only their MACs vouch for them`, "",
			`Chain "$1": records $2 to $3 are covered by no signed checkpoint, because they share a part of the signed tree with records before them that were not given; only their integrity codes (MACs) vouch for them, so someone holding the HMAC key could have rewritten them.`, ""),
		rule(`chain (.+?): seq (\d+)\.\.(\d+) are covered by no signed checkpoint \(they share a Merkle subtree with records before them that were not given\): nothing vouches for them \(no HMAC key given\)`, "",
			`Chain "$1": records $2 to $3 are covered by no signed checkpoint, because they share a part of the signed tree with records before them that were not given, and no HMAC key was given: nothing vouches for them.`, ""),
		rule(`chain (.+?): signed up to seq (\d+) at (\S+) \(the head\)`, "",
			`Chain "$1": every record up to record $2 is covered by a signed checkpoint (of $3); no newer record is left unsigned.`, ""),
		rule(`chain (.+?): reaches the newest witnessed checkpoint \(size (\d+), (.+)\)`, "",
			`Chain "$1": the records reach the newest checkpoint kept off the pod ($2 records, $3).`, ""),
		rule(`chain (.+?): the export ends at seq (\d+) and differs from every witnessed checkpoint it reaches: it is not part of the witnessed chain`, "",
			`Chain "$1": the export ends at record $2 and differs from every checkpoint kept off the pod that it reaches: it is not part of the witnessed chain.`, ""),
		rule(`chain (.+?): the export ends at seq (\d+), where it was taken; it matches the witnessed checkpoint of size (\d+); the chain had (\d+) records when witnessed at (.+?): seq (\d+)\.\.(\d+) were written after the export and are not in it; seq (\d+)\.\.(\d+) are vouched for by the export's own MACs and checkpoints, not by the witness`, "",
			`Chain "$1": the export ends at record $2, where it was taken, and matches the checkpoint kept off the pod of $3 records; the chain had $4 records when that was witnessed ($5), so records $6 to $7 came after the export and are not in it. Records $8 to $9 are vouched for only by the export's own integrity codes and checkpoints, not by the witness.`, ""),
		rule(`chain (.+?): the export ends at seq (\d+), where it was taken; it matches the witnessed checkpoint of size (\d+); the chain had (\d+) records when witnessed at (.+?): seq (\d+)\.\.(\d+) were written after the export and are not in it`, "",
			`Chain "$1": the export ends at record $2, where it was taken, and matches the checkpoint kept off the pod of $3 records; the chain had $4 records when that was witnessed ($5), so records $6 to $7 came after the export and are not in it.`, ""),
		rule(`chain (.+?): the export ends at seq (\d+), before the witnessed checkpoint of size (\d+) \((.+)\), and reaches no witnessed checkpoint: it cannot be shown to be part of the witnessed chain`, "",
			`Chain "$1": the export ends at record $2, before the checkpoint kept off the pod ($3 records, $4), and reaches none it can be compared with: that it belongs to the witnessed chain cannot be shown.`, ""),
		rule(`chain (.+?): the store ends at seq (\d+), short of the witnessed checkpoint of size (\d+) \((.+)\): truncation or rollback`, "",
			`Chain "$1": the store ends at record $2, short of the $3 records the checkpoint kept off the pod vouches for ($4): the newest records were removed, or an older copy was put back.`, ""),
		rule(`chain (.+?): holds no record, but was witnessed with (\d+) records \((.+)\)`, "",
			`Chain "$1": no record is left, but a checkpoint kept off the pod shows it held $2 records ($3).`, ""),
		rule(`chain (.+?): sealed up to epoch (\d+) at (\S+); the records of the epochs after it can be altered by whoever holds the running sidecar's key`, "",
			`Chain "$1": key periods (epochs) up to $2 are closed (at $3); records written after that could be altered by whoever took the running sidecar's current key.`, ""),
	}
})

// Unprotected puts one exposure line of a report in plain words; a line
// that no rule knows is returned as it is.
func Unprotected(line string) string {
	for _, r := range unprotectedRules() {
		if m := r.re.FindStringSubmatchIndex(line); m != nil {
			return expand(r, r.what, line, m)
		}
	}
	return line
}
