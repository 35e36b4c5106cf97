package chain

// Kind says what sort of problem a VerifyError is: code that acts on
// problems (the report's list of gaps, tests) tells them apart by Kind,
// never by the words of Reason, which are for people.
type Kind uint8

// Kinds of VerifyError. Each problem is raised with one.
const (
	// KindMissing: records missing from the chain (a gap, or a prefix no
	// retention_purge record accounts for).
	KindMissing Kind = iota + 1
	// KindOrder: a seq out of order or duplicated.
	KindOrder
	// KindPayload: a payload that does not decode, is not canonical, or
	// names another chain position.
	KindPayload
	// KindLink: a record that does not link to the one before it (prev),
	// or a first record that is not a chain's first.
	KindLink
	// KindMAC: a MAC that does not match its record, or is malformed.
	KindMAC
	// KindKey: an unknown key id, a key changed without a key_rotation.
	KindKey
	// KindEpoch: forward-secure key epochs out of order.
	KindEpoch
	// KindCheckpoint: a checkpoint record malformed, or stating what its
	// record or the chain contradicts.
	KindCheckpoint
	// KindSignature: a checkpoint not signed by a trusted key, or whose
	// signature does not verify.
	KindSignature
	// KindMerkle: records that do not match a signed Merkle root.
	KindMerkle
	// KindUnvouched: records or a chain nothing given vouches for (no
	// HMAC key and no signed checkpoint covering them).
	KindUnvouched
	// KindWitness: a witnessed checkpoint the chain does not extend or
	// reach, or that could not be compared with it.
	KindWitness
	// KindRetention: a retention_purge record that breaks the purge
	// rules, or that no signed checkpoint vouches for.
	KindRetention
	// KindColumn: a stored index column that differs from the payload.
	KindColumn
	// KindFreshness: no checkpoint within the freshness bound.
	KindFreshness
	// KindAbsent: a chain, a store or an input that holds no records.
	KindAbsent
	// KindFraming: an export line that breaks the export's framing.
	KindFraming
)

var kindNames = [...]string{
	KindMissing: "missing", KindOrder: "order", KindPayload: "payload", KindLink: "link",
	KindMAC: "mac", KindKey: "key", KindEpoch: "epoch", KindCheckpoint: "checkpoint",
	KindSignature: "signature", KindMerkle: "merkle", KindUnvouched: "unvouched",
	KindWitness: "witness", KindRetention: "retention", KindColumn: "column",
	KindFreshness: "freshness", KindAbsent: "absent", KindFraming: "framing",
}

// String names the kind ("missing", "mac", ...); "unknown" for a kind
// not listed here, such as the zero Kind of a VerifyError built by hand.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}
