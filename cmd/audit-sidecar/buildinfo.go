package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// registerBuildInfo adds audit_build_info, always 1, whose labels say what
// runs: the version, the VCS revision ("unknown" when the binary was built
// without it), Go's version and whether Go's FIPS 140-3 mode is on.
func registerBuildInfo(reg prometheus.Registerer) {
	t := toolFacts()
	rev := t.Revision
	if rev == "" {
		rev = "unknown"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "audit_build_info",
		Help: "Always 1; the labels say which build of audit-sidecar runs.",
		ConstLabels: prometheus.Labels{
			"version": t.Version, "revision": rev, "goversion": t.Go,
			"fips140": strconv.FormatBool(t.FIPS140),
		},
	})
	g.Set(1)
	reg.MustRegister(g)
}
