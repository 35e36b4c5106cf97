package query

import (
	"bufio"
	"net/http"
	"net/url"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/verify"
)

// exportParams are the parameters GET /v1/audit?format=ndjson accepts: an
// export must keep each chain contiguous to verify, so it selects whole
// chains and a range of ingestion time, nothing else.
var exportParams = map[string]bool{"format": true, "chain": true, "from": true, "to": true}

// serveExport streams an export (see verify.Export and
// docs/chain-format.md, "Export files"). Only an admin token without a
// tenant may export: a tenant's records alone are not a verifiable chain.
func (h *handler) serveExport(w http.ResponseWriter, r *http.Request, cred *credential, vals url.Values, log *zap.Logger) {
	st, ok := h.store.(verify.Store)
	if !ok {
		writeError(w, http.StatusNotImplemented, "format: ndjson is not supported by this store")
		return
	}
	if cred.tenant != "" {
		log.Warn("audit export forbidden", zap.String("reason", "tenant-scoped token"))
		writeError(w, http.StatusForbidden, "format: an export needs a token without a tenant scope (a tenant's records alone do not verify)")
		return
	}
	var chains []string
	var bounds [2]string
	for name, vs := range vals {
		switch {
		case !exportParams[name]:
			writeError(w, http.StatusBadRequest, trimName(name)+": not allowed with format=ndjson (an export takes chain, from, to)")
			return
		case len(vs) != 1 || vs[0] == "":
			writeError(w, http.StatusBadRequest, name+": must be given once, non-empty")
			return
		}
	}
	if vals.Get("format") != "ndjson" {
		writeError(w, http.StatusBadRequest, "format: must be ndjson")
		return
	}
	if c := vals.Get("chain"); c != "" {
		chains = []string{c}
	}
	for i, name := range []string{"from", "to"} {
		if v := vals.Get(name); v != "" {
			t, err := ParseTime(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, name+": "+err.Error())
				return
			}
			bounds[i] = record.FormatTime(t)
		}
	}
	// As for a page: an empty range is a mistake, not an empty export.
	if bounds[0] != "" && bounds[1] != "" && bounds[0] >= bounds[1] {
		writeError(w, http.StatusBadRequest, "from: must be before to")
		return
	}
	release, ok := h.admit(w, r, cred)
	if !ok {
		log.Debug("audit export refused", zap.String("reason", "too many concurrent queries"))
		return
	}
	defer release()
	if chains != nil {
		// An export of a chain the store does not hold would be an empty
		// body, which says nothing a verifier could check: 404.
		known, err := st.Chains(r.Context())
		if err != nil {
			log.Error("audit export failed", zap.Error(err))
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		if !slices.Contains(known, chains[0]) {
			writeError(w, http.StatusNotFound, "chain: the store holds no record of this chain")
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	stall := newStallDeadline(w, h.stall)
	bw := bufio.NewWriterSize(stallWriter{w, stall}, 256<<10)
	flush := func() {
		bw.Flush()
		stall.renew()
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	start := time.Now()
	err := verify.Export(r.Context(), bw, st, chains, bounds[0], bounds[1], flush)
	if err != nil && r.Context().Err() == nil {
		// The status is sent: end with a line that no verifier accepts, so
		// that a cut export is never taken for a complete one.
		log.Error("audit export failed", zap.Error(err))
		bw.WriteString(`{"export_error":"the export failed before its end; it is incomplete"}` + "\n")
	}
	flush()
	log.Info("audit export served", zap.Duration("took", time.Since(start)), zap.Bool("complete", err == nil))
}

func trimName(name string) string {
	if len(name) > maxParamNameLen {
		return name[:maxParamNameLen]
	}
	return name
}
