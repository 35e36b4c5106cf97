// Package deploy holds no code: its tests render the Helm chart of
// deploy/helm/audit-sidecar for its default values and for each switch,
// decode every object strictly into the k8s.io/api types, and hold the
// chart's injector to deploy/examples/injector.yaml, which the command's
// own tests hold to its flags.
package deploy
