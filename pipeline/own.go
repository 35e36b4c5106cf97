package pipeline

import (
	"bytes"
	"encoding/json"
	"strconv"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
)

// addOwn seals a record of the sidecar's own (a gap, a start, a stop, a
// rotation, a purge) into the open batch.
func (in *Ingester) addOwn(action string, detail map[string]any) {
	in.seal(in.ownRecord(action, detail))
	in.maybeCheckpoint()
}

// ownRecord builds a record of the sidecar's own. Its numbers (devices,
// inodes, offsets, sequence numbers, counts) are the sidecar's and never
// personal data, so they are kept as they are: walked as agent data, a run
// of them in sibling members can pass for a split phone or card number,
// and a gap record would lose the inode and offsets it exists to give.
// Its strings may carry what the agent controls (a file name, a link's
// target), so each is redacted on its own, and counted in the manifest.
func (in *Ingester) ownRecord(action string, detail map[string]any) *record.Record {
	now := in.cfg.Now()
	r := &record.Record{TS: now, IngestedAt: now, Action: action}
	if len(detail) == 0 {
		return r
	}
	raw, err := json.Marshal(detail)
	if err != nil {
		// Never dropped silently: the record says its detail was lost.
		in.log.Error("own record detail not encodable", zap.String("action", action), zap.Error(err))
		raw = []byte(`{"detail_unencodable":true}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // exact: inodes and offsets above 2^53 stay as they are
	var v any
	if err := dec.Decode(&v); err != nil {
		v = map[string]any{"detail_unencodable": true}
	}
	sc := &in.scratch
	clear(sc.counts)
	sc.mb = record.ManifestBuilder{}
	v = in.redactStrings(v, "detail")
	if r.Detail, err = json.Marshal(v); err != nil {
		in.log.Error("own record detail not encodable", zap.String("action", action), zap.Error(err))
		r.Detail = json.RawMessage(`{"detail_unencodable":true}`)
	}
	if len(sc.counts) > 0 {
		r.Manifest = sc.mb.Manifest(in.cfg.Redactor.Policy())
		for k, n := range sc.counts {
			in.cfg.Metrics.Redactions.WithLabelValues(k).Add(float64(n))
		}
	}
	return r
}

// redactStrings returns v with every string in it redacted, each alone
// at its path; numbers, literals and keys (the sidecar's) are kept.
// Hits go to the scratch's counts and manifest builder; each string gets
// a buffer of its own (not the scratch's: the values are kept together).
func (in *Ingester) redactStrings(v any, path string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = in.redactStrings(e, path+"."+k)
		}
	case []any:
		for i, e := range x {
			x[i] = in.redactStrings(e, path+"."+strconv.Itoa(i))
		}
	case string:
		b, _ := json.Marshal(x)
		out, _ := in.redact(b, path, nil, false)
		return out
	}
	return v
}
