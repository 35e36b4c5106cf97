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

// EventRecorder takes the reason a pod being created was not injected,
// for a Kubernetes event (Recorder is one). Warn returns at once,
// whatever the API server does: the admission waits for it.
type EventRecorder interface {
	Warn(ref ObjectRef, namespace, action, note string)
}

// Handler serves AdmissionReview v1 requests on /mutate and answers
// /healthz. Its zero value is not usable: use NewHandler.
type Handler struct {
	opts   Options
	log    *zap.Logger
	events EventRecorder
	mux    *http.ServeMux
}

// NewHandler checks o and returns the webhook's handler. A nil logger
// logs nothing; nil events report no event.
func NewHandler(o Options, log *zap.Logger, events EventRecorder) (*Handler, error) {
	if errs := o.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{opts: o.withDefaults(), log: log, events: events, mux: http.NewServeMux()}
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
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil || review.Request.UID == "" {
		http.Error(w, "not an AdmissionReview v1 with a request and its uid", http.StatusBadRequest)
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
// (Ignore), the reason in the status message or the warning, and in a
// Kubernetes event unless the request is a dry run.
func (h *Handler) Review(req *AdmissionRequest) *AdmissionResponse {
	resp := &AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" || req.Operation != OperationCreate {
		return resp
	}
	var meta struct {
		Metadata podMeta `json:"metadata"`
	}
	json.Unmarshal(req.Object, &meta) //nolint:errcheck // Mutate reports a pod it cannot read
	ns := req.Namespace
	if ns == "" {
		ns = meta.Metadata.Namespace
	}
	res, err := Mutate(req.Object, ns, h.opts)
	if err != nil {
		return h.cannot(resp, req, &meta.Metadata, ns, err)
	}
	if res.Pod == nil {
		return resp
	}
	ops, err := Patch(req.Object, res.Pod)
	if err != nil {
		return h.cannot(resp, req, &meta.Metadata, ns, fmt.Errorf("%w: compute the patch", ErrNotInjectable))
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return h.cannot(resp, req, &meta.Metadata, ns, fmt.Errorf("%w: encode the patch", ErrNotInjectable))
	}
	pt := PatchTypeJSON
	resp.Patch, resp.PatchType = patch, &pt
	h.log.Info("injected", zap.String("namespace", ns), zap.String("uid", req.UID), zap.Int("ops", len(ops)))
	return resp
}

// cannot answers for a pod that asked for the sidecar and cannot have
// it, and reports why in an event (not for a dry run: the webhook's
// sideEffects are NoneOnDryRun).
func (h *Handler) cannot(resp *AdmissionResponse, req *AdmissionRequest, pod *podMeta, ns string, err error) *AdmissionResponse {
	reason := err.Error()
	if !errors.Is(err, ErrNotInjectable) {
		reason = ErrNotInjectable.Error() + ": " + reason
	}
	h.log.Warn("not injected", zap.String("namespace", req.Namespace), zap.String("uid", req.UID),
		zap.String("failure_policy", string(h.opts.FailurePolicy)), zap.String("reason", reason))
	if h.events != nil && (req.DryRun == nil || !*req.DryRun) && ns != "" {
		action, what := ActionRefused, "refused"
		if h.opts.FailurePolicy == Ignore {
			action, what = ActionAdmitted, "admitted without the audit sidecar (failure policy Ignore)"
		}
		h.events.Warn(regarding(pod, ns), ns, action, fmt.Sprintf("pod %s %s: %s", podName(pod), what, reason))
	}
	if h.opts.FailurePolicy == Ignore {
		resp.Warnings = []string{reason + " (admitted without it: failure policy Ignore)"}
		return resp
	}
	resp.Allowed = false
	resp.Result = &Status{Status: StatusFailure, Message: reason, Reason: ReasonInvalid, Code: http.StatusUnprocessableEntity}
	return resp
}

// podName names a pod being created: its name, or its generateName
// followed by "*".
func podName(m *podMeta) string {
	switch {
	case m.Name != "":
		return m.Name
	case m.GenerateName != "":
		return m.GenerateName + "*"
	}
	return "(unnamed)"
}
