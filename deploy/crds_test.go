package deploy

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The kinds of cert-manager and the Prometheus Operator the chart renders,
// which k8s.io/api does not hold: only the fields the chart writes are
// known, so that a field misspelt or misplaced in a template fails the
// strict decoding as it would fail the API server's.

// customKinds makes an empty object of each such apiVersion/kind.
var customKinds = map[string]func() runtime.Object{
	"cert-manager.io/v1/Certificate":          func() runtime.Object { return new(certificate) },
	"cert-manager.io/v1/Issuer":               func() runtime.Object { return new(issuer) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() runtime.Object { return new(serviceMonitor) },
}

type objectReference struct {
	Name  string `json:"name"`
	Kind  string `json:"kind,omitempty"`
	Group string `json:"group,omitempty"`
}

// certificate is cert-manager.io/v1 Certificate.
type certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretName  string           `json:"secretName"`
		CommonName  string           `json:"commonName,omitempty"`
		DNSNames    []string         `json:"dnsNames"`
		Duration    *metav1.Duration `json:"duration,omitempty"`
		RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
		PrivateKey  *struct {
			Algorithm      string `json:"algorithm"`
			Size           int    `json:"size"`
			RotationPolicy string `json:"rotationPolicy"`
		} `json:"privateKey,omitempty"`
		IssuerRef objectReference `json:"issuerRef"`
	} `json:"spec"`
}

// issuer is cert-manager.io/v1 Issuer, of the self-signing kind only.
type issuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SelfSigned *struct{} `json:"selfSigned"`
	} `json:"spec"`
}

// serviceMonitor is monitoring.coreos.com/v1 ServiceMonitor.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		NamespaceSelector struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector"`
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Scheme   string `json:"scheme"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func (c *certificate) DeepCopyObject() runtime.Object    { cp := *c; return &cp }
func (i *issuer) DeepCopyObject() runtime.Object         { cp := *i; return &cp }
func (s *serviceMonitor) DeepCopyObject() runtime.Object { cp := *s; return &cp }
