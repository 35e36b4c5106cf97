package inject

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"
)

// The injector reports a pod it could not inject as an events.k8s.io/v1
// Event, not a core/v1 one: it is the API the API server keeps events in
// since 1.19 (core/v1 Events are the same objects seen through the old
// API, so `kubectl get events` and `kubectl describe` show them alike),
// and its reportingController, reportingInstance and action say who
// reported what, which the old API leaves to free text. Its RBAC rule is
// the events.k8s.io group's, not the core group's.

// Event is an events.k8s.io/v1 Event, the members the injector sets.
type Event struct {
	APIVersion          string       `json:"apiVersion"`
	Kind                string       `json:"kind"`
	Metadata            EventMeta    `json:"metadata"`
	EventTime           MicroTime    `json:"eventTime"`
	Series              *EventSeries `json:"series,omitempty"`
	ReportingController string       `json:"reportingController"`
	ReportingInstance   string       `json:"reportingInstance"`
	Action              string       `json:"action"`
	Reason              string       `json:"reason"`
	Regarding           ObjectRef    `json:"regarding"`
	Note                string       `json:"note,omitempty"`
	Type                string       `json:"type"`
}

// EventMeta is an event's name and namespace: the namespace of the
// object it regards, as the API server requires.
type EventMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

// EventSeries says an event happened Count times, the last at
// LastObservedTime.
type EventSeries struct {
	Count            int32     `json:"count"`
	LastObservedTime MicroTime `json:"lastObservedTime"`
}

// ObjectRef is the object an event regards (a core/v1 ObjectReference).
type ObjectRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

// MicroTime is a time in the API's microsecond format.
type MicroTime time.Time

// MarshalJSON writes t as the API server's MicroTime: RFC 3339, UTC,
// six fractional digits.
func (t MicroTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000000Z07:00") + `"`), nil
}

// Values of an event's members.
const (
	EventAPIVersion = "events.k8s.io/v1"
	EventWarning    = "Warning"
	// ReasonInjectionFailed is the reason of every event of the injector:
	// kubectl get events --field-selector reason=InjectionFailed.
	ReasonInjectionFailed = "InjectionFailed"
	// ActionRefused and ActionAdmitted say what became of the pod: refused
	// (failure policy Fail) or admitted without the sidecar (Ignore).
	ActionRefused  = "Refused"
	ActionAdmitted = "AdmittedWithoutSidecar"
	// DefaultController is the events' reportingController.
	DefaultController = "audit.fips-agents.io/injector"
	// maxNote is the longest note the API server accepts, in bytes.
	maxNote = 1024
	// maxName is the longest object name (a DNS subdomain).
	maxName = 253
)

// regarding is the object an event about a pod being created should
// regard: the pod has no UID yet, and when refused it never will, so the
// event goes to its controller (a ReplicaSet, a Job, a StatefulSet...)
// from its ownerReferences, which `kubectl describe` of that controller
// shows beside the controller's own FailedCreate events. A pod without a
// controller is regarded by its name (kubectl get events
// --field-selector involvedObject.name=NAME finds it); a pod with neither
// (a generateName alone) by its namespace.
//
// The pod is not validated yet when the webhook sees it: every member is
// cut to the longest the API allows a name, so that what the recorder
// keeps per event stays small whatever the pod holds.
func regarding(m *podMeta, ns string) ObjectRef {
	ref := ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: ns}
	if m.Name != "" {
		ref = ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: m.Name}
	}
	for _, r := range m.OwnerReferences {
		if r.Controller != nil && *r.Controller && r.Kind != "" && r.Name != "" {
			ref = ObjectRef{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: ns, Name: r.Name, UID: r.UID}
			break
		}
	}
	for _, f := range []*string{&ref.APIVersion, &ref.Kind, &ref.Namespace, &ref.Name, &ref.UID} {
		*f = truncateUTF8(*f, maxName)
	}
	return ref
}

// newEvent is a Warning about ref, first seen at first; count > 1 makes
// it a series last seen at last. Its name is unique: ref's name and a
// random suffix.
func newEvent(ref ObjectRef, ns, controller, instance, action, note string, first, last time.Time, count int32) *Event {
	var b [8]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand never fails
	suffix := "." + hex.EncodeToString(b[:])
	prefix := subdomain(ref.Name)
	if len(prefix)+len(suffix) > maxName {
		// Cut, then end on a letter or digit, as a DNS subdomain must.
		prefix = strings.TrimRight(prefix[:maxName-len(suffix)], "-.")
	}
	if prefix == "" {
		prefix = "pod"
	}
	ev := &Event{
		APIVersion: EventAPIVersion, Kind: "Event",
		Metadata:            EventMeta{Name: prefix + suffix, Namespace: ns},
		EventTime:           MicroTime(first),
		ReportingController: controller,
		ReportingInstance:   instance,
		Action:              action,
		Reason:              ReasonInjectionFailed,
		Regarding:           ref,
		Note:                truncateUTF8(note, maxNote),
		Type:                EventWarning,
	}
	if count > 1 {
		ev.Series = &EventSeries{Count: count, LastObservedTime: MicroTime(last)}
	}
	return ev
}

// subdomain is name as the start of a DNS subdomain, as an event's own
// name must be: the name unchanged when it is one (a name the API server
// has validated), else lower-cased, each character other than [a-z0-9.]
// a '-', each dot-separated label trimmed of its dashes and the empty
// ones left out ("" when nothing is left). The pod is not validated yet
// when the webhook sees it, nor is an owner reference's name ever.
func subdomain(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	var labels []string
	for _, l := range strings.Split(b.String(), ".") {
		if l = strings.Trim(l, "-"); l != "" {
			labels = append(labels, l)
		}
	}
	return strings.Join(labels, ".")
}

// truncateUTF8 is s cut to at most n bytes, on a rune boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
