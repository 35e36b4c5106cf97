package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview v1 with a request", http.StatusBadRequest)
		return
	}
	resp := h.Review(review.Request)
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out) //nolint:errcheck // the client is gone
}

// Review answers one admission request: a JSON patch for a pod to inject,
// an unchanged admission for a pod to leave alone, and for a pod that
// cannot be injected a refusal (Fail) or an admission with a warning
// (Ignore), the reason in the status message or the warning.
func (h *Handler) Review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" || req.Operation != admissionv1.Create {
		return resp
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return h.cannot(resp, req, errors.New("the object is not a pod"))
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	res, err := Mutate(&pod, ns, h.opts)
	if err != nil {
		return h.cannot(resp, req, err)
	}
	if res.Pod == nil {
		return resp
	}
	before, err1 := json.Marshal(&pod)
	after, err2 := json.Marshal(res.Pod)
	if err := errors.Join(err1, err2); err != nil {
		return h.cannot(resp, req, fmt.Errorf("%w: encode the pod", ErrNotInjectable))
	}
	ops, err := Patch(before, after)
	if err != nil {
		return h.cannot(resp, req, fmt.Errorf("%w: compute the patch", ErrNotInjectable))
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return h.cannot(resp, req, fmt.Errorf("%w: encode the patch", ErrNotInjectable))
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	h.log.Info("injected", zap.String("namespace", ns), zap.String("uid", string(req.UID)), zap.Int("ops", len(ops)))
	return resp
}

func (h *Handler) cannot(resp *admissionv1.AdmissionResponse, req *admissionv1.AdmissionRequest, err error) *admissionv1.AdmissionResponse {
	reason := err.Error()
	if !errors.Is(err, ErrNotInjectable) {
		reason = ErrNotInjectable.Error() + ": " + reason
	}
	h.log.Warn("not injected", zap.String("namespace", req.Namespace), zap.String("uid", string(req.UID)),
		zap.String("failure_policy", string(h.opts.FailurePolicy)), zap.String("reason", reason))
	if h.opts.FailurePolicy == Ignore {
		resp.Warnings = []string{reason + " (admitted without it: failure policy Ignore)"}
		return resp
	}
	resp.Allowed = false
	resp.Result = &metav1.Status{Status: metav1.StatusFailure, Message: reason, Reason: metav1.StatusReasonInvalid, Code: http.StatusUnprocessableEntity}
	return resp
}
