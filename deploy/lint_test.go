package deploy

import (
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestChart_Lints runs Helm's own linter (`helm lint`) on the chart, for
// the oldest Kubernetes it supports and with every switch on: a warning or
// an error fails, information is logged.
func TestChart_Lints(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"defaults": nil,
		"everything": {
			"certManager":    map[string]any{"enabled": true},
			"serviceMonitor": map[string]any{"enabled": true},
			"networkPolicy":  map[string]any{"enabled": true},
			"exampleAgent":   map[string]any{"enabled": true},
		},
	} {
		t.Run(name, func(t *testing.T) {
			kv, err := chartutil.ParseKubeVersion("v1.25.0")
			if err != nil {
				t.Fatal(err)
			}
			l := lint.AllWithKubeVersion(chartDir, vals, releaseNS, kv)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Error(m)
				} else {
					t.Log(m)
				}
			}
		})
	}
}
