package pipeline

import (
	"encoding/json"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/redact"
)

// Redactor rewrites a JSON value with PII replaced, counting hits per type
// in counts and handing each replacement (rule, type, path; never the
// text) to hit, for the record's manifest, as it is made: a value with a
// million findings is not a million hits held at once. root names the
// record field holding the value ("arguments", "detail"), the first key
// of the paths redaction rules see. It must not modify src. Policy names
// the redaction configuration.
type Redactor interface {
	ExplainJSONFunc(dst, src []byte, root string, counts map[string]int, hit func(redact.Hit)) ([]byte, error)
	Policy() string
}

// maxBatchBytes commits a batch early when its records are this large.
const maxBatchBytes = 16 << 20

// add redacts, seals and appends r to the open batch.
func (in *Ingester) add(r *record.Record) {
	in.seal(in.redactRecord(r))
	in.maybeCheckpoint()
}

// seal seals r and appends it to the open batch.
func (in *Ingester) seal(r *record.Record) {
	if r.Action != record.ActionCheckpoint && in.cfg.Checkpoint.Signer != nil && in.marks.begins(r.IngestedAt) {
		// A retention period begins with a checkpoint, which takes the
		// mark: a purge ends right before it, so what a purge leaves
		// begins with the signed tree state of its boundary, and verifies
		// with the public key alone.
		in.checkpoint()
	}
	in.marks.sealing(r.IngestedAt, in.sealer.Head())
	s := in.sealer.Seal(r)
	in.cfg.Metrics.Records.WithLabelValues(r.Action).Inc()
	in.batch = append(in.batch, s)
	in.batchBytes += len(s.Payload)
	if r.Action != record.ActionCheckpoint {
		in.ckpt.since++
	}
}

// batchFull reports whether the open batch is to be committed now.
func (in *Ingester) batchFull() bool {
	return len(in.batch) >= in.cfg.BatchRecords || in.batchBytes >= maxBatchBytes
}

// redactRecord redacts r's arguments and detail in place and returns it.
// They are written into the ingester's scratch buffers, which the next
// record reuses: r must be sealed (its payload encoded) before another
// record is redacted, as add does.
func (in *Ingester) redactRecord(r *record.Record) *record.Record {
	sc := &in.scratch
	clear(sc.counts)
	sc.mb = record.ManifestBuilder{}
	r.Arguments, sc.args = in.redact(r.Arguments, "arguments", sc.args, false)
	r.Detail, sc.detail = in.redact(r.Detail, "detail", sc.detail, true)
	if len(sc.counts) > 0 {
		r.Manifest = sc.mb.Manifest(in.cfg.Redactor.Policy())
		for k, n := range sc.counts {
			in.cfg.Metrics.Redactions.WithLabelValues(k).Add(float64(n))
		}
	}
	return r
}

// redactScratch is what redactRecord reuses from record to record.
type redactScratch struct {
	counts       map[string]int
	mb           record.ManifestBuilder
	hit          func(redact.Hit) // adds to mb; made once
	args, detail []byte           // the redacted values' buffers
}

// maxScratch bounds a scratch buffer kept for the next record: one huge
// value does not keep its buffer for the rest of the run.
const maxScratch = 64 << 10

func (sc *redactScratch) init() {
	sc.counts = map[string]int{}
	sc.hit = func(h redact.Hit) { sc.mb.Add(h.Rule, h.Type, h.Path) }
}

// redact fails closed: a value the redactor cannot process is replaced
// whole, and the replacement is counted. It writes into buf and returns
// the value and the buffer to keep for the next record.
func (in *Ingester) redact(v json.RawMessage, root string, buf []byte, object bool) (json.RawMessage, []byte) {
	if v == nil {
		return nil, buf
	}
	sc := &in.scratch
	if cap(buf) < len(v)+16 {
		buf = make([]byte, 0, len(v)+len(v)/4+16)
	}
	out, err := in.cfg.Redactor.ExplainJSONFunc(buf[:0], v, root, sc.counts, sc.hit)
	if cap(out) <= maxScratch {
		buf = out
	} else {
		buf = nil
	}
	switch {
	case err == nil && object && string(out) == "null":
		return nil, buf // dropped whole by a rule
	case err == nil && object && (len(out) == 0 || out[0] != '{'):
		// Replaced whole by a rule: detail stays an object.
		return json.RawMessage(`{"redacted":` + string(out) + `}`), buf
	case err == nil:
		return out, buf
	}
	in.log.Warn("value replaced: redaction failed", zap.Error(err))
	sc.counts["UNPROCESSABLE"]++
	sc.mb.Add("builtin:UNPROCESSABLE", "UNPROCESSABLE", root)
	if object {
		return json.RawMessage(`{"redaction_failed":"[REDACTED:UNPROCESSABLE]"}`), buf
	}
	return json.RawMessage(`"[REDACTED:UNPROCESSABLE]"`), buf
}
