{{/* The name of every object of the injector. */}}
{{- define "audit-sidecar.fullname" -}}
{{- required "fullnameOverride is required" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels every object of the injector carries. */}}
{{- define "audit-sidecar.labels" -}}
app.kubernetes.io/name: {{ include "audit-sidecar.fullname" . }}
{{ include "audit-sidecar.releaseLabels" . }}
{{- end -}}

{{/* The labels every object of the release carries, the example agent's too. */}}
{{- define "audit-sidecar.releaseLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The labels the injector's pods are selected by. */}}
{{- define "audit-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "audit-sidecar.fullname" . }}
{{- end -}}

{{/* The audit-sidecar image. */}}
{{- define "audit-sidecar.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString .Values.image.tag) -}}
{{- end -}}

{{/* The TLS Secret's name. */}}
{{- define "audit-sidecar.tlsSecret" -}}
{{- printf "%s-tls" (include "audit-sidecar.fullname" .) -}}
{{- end -}}

{{/* Values checked once, before anything is rendered. */}}
{{- define "audit-sidecar.validate" -}}
{{- if not (has .Values.webhook.failurePolicy (list "Fail" "Ignore")) -}}
{{- fail "webhook.failurePolicy: must be Fail or Ignore" -}}
{{- end -}}
{{- if not (has .Values.injector.mode (list "native" "classic")) -}}
{{- fail "injector.mode: must be native or classic" -}}
{{- end -}}
{{- $t := int .Values.webhook.timeoutSeconds -}}
{{- if or (lt $t 1) (gt $t 30) -}}
{{- fail "webhook.timeoutSeconds: must be 1-30" -}}
{{- end -}}
{{- $pdb := .Values.podDisruptionBudget -}}
{{- if eq (ne (toString $pdb.minAvailable) "") (ne (toString $pdb.maxUnavailable) "") -}}
{{- fail "podDisruptionBudget: set one of minAvailable and maxUnavailable, the other empty" -}}
{{- end -}}
{{- if and .Values.exampleAgent.enabled (eq .Values.exampleAgent.namespace .Release.Namespace) -}}
{{- fail "exampleAgent.namespace: must not be the release's namespace, which is never injected" -}}
{{- end -}}
{{- end -}}
