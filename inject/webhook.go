package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"go.uber.org/zap"
)

// MaxReviewBytes bounds an AdmissionReview's body: the API server caps an
// object at about 1.5 MiB, and a review carries it once for a CREATE.
const MaxReviewBytes = 4 << 20

// Handler serves AdmissionReview v1 requests on /mutate and answers
// /healthz. Its zero value is not usable: use NewHandler.
type Handler struct {
	opts Options
	log  *zap.Logger
	mux  *http.ServeMux
}

// NewHandler checks o and returns the webhook's handler. A nil logger
// logs nothing.
func NewHandler(o Options, log *zap.Logger) (*Handler, error) {
	if errs := o.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{opts: o.withDefaults(), log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /mutate", h.mutate)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) mutate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxReviewBytes))
	if err != nil {
		http.Error(w, "request body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	var review AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview v1 with a request", http.StatusBadRequest)
		return
	}
	resp := h.Review(review.Request)
	out := AdmissionReview{APIVersion: review.APIVersion, Kind: review.Kind, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = admissionVersion, "AdmissionReview"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out) //nolint:errcheck // the client is gone
}

// Review answers one admission request: a JSON patch for a pod to inject,
// an unchanged admission for a pod to leave alone, and for a pod that
// cannot be injected a refusal (Fail) or an admission with a warning
// (Ignore), the reason in the status message or the warning.
func (h *Handler) Review(req *AdmissionRequest) *AdmissionResponse {
	resp := &AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" || req.Operation != OperationCreate {
		return resp
	}
	var meta struct {
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	json.Unmarshal(req.Object, &meta) //nolint:errcheck // Mutate reports a pod it cannot read
	ns := req.Namespace
	if ns == "" {
		ns = meta.Metadata.Namespace
	}
	res, err := Mutate(req.Object, ns, h.opts)
	if err != nil {
		return h.cannot(resp, req, err)
	}
	if res.Pod == nil {
		return resp
	}
	ops, err := Patch(req.Object, res.Pod)
	if err != nil {
		return h.cannot(resp, req, fmt.Errorf("%w: compute the patch", ErrNotInjectable))
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return h.cannot(resp, req, fmt.Errorf("%w: encode the patch", ErrNotInjectable))
	}
	pt := PatchTypeJSON
	resp.Patch, resp.PatchType = patch, &pt
	h.log.Info("injected", zap.String("namespace", ns), zap.String("uid", req.UID), zap.Int("ops", len(ops)))
	return resp
}

func (h *Handler) cannot(resp *AdmissionResponse, req *AdmissionRequest, err error) *AdmissionResponse {
	reason := err.Error()
	if !errors.Is(err, ErrNotInjectable) {
		reason = ErrNotInjectable.Error() + ": " + reason
	}
	h.log.Warn("not injected", zap.String("namespace", req.Namespace), zap.String("uid", req.UID),
		zap.String("failure_policy", string(h.opts.FailurePolicy)), zap.String("reason", reason))
	if h.opts.FailurePolicy == Ignore {
		resp.Warnings = []string{reason + " (admitted without it: failure policy Ignore)"}
		return resp
	}
	resp.Allowed = false
	resp.Result = &Status{Status: StatusFailure, Message: reason, Reason: ReasonInvalid, Code: http.StatusUnprocessableEntity}
	return resp
}
