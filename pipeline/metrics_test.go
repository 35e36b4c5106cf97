package pipeline

import (
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Every metric is created and registered: a nil one would panic at the
// first event, and an unregistered one would never be exported.
func TestMetrics_AllCreatedAndRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsNil() {
			t.Errorf("metric %s is nil", v.Type().Field(i).Name)
		}
	}
	m.Records.WithLabelValues("x").Inc()
	m.Redactions.WithLabelValues("x").Inc()
	for _, vec := range []*prometheus.CounterVec{m.Delivered, m.SinkErrors, m.SinkReplaced, m.Quarantined, m.PurgeErrors, m.WitnessErrors} {
		vec.WithLabelValues("s").Inc()
	}
	m.SinkLag.WithLabelValues("s").Set(1)
	m.SinkUp.WithLabelValues("s").Set(1)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != v.NumField() {
		t.Errorf("%d metric families gathered, want %d (one per field)", len(families), v.NumField())
	}
}
