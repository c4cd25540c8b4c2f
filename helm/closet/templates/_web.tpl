{{/* The demo web page (web.*): names, labels and image. Its pods carry their own app.kubernetes.io/name,
so the serving Deployment, Service and PDB (selected by closet.selectorLabels) never pick them up. */}}
{{- define "closet.web.name" -}}
{{- include "closet.suffixedName" (list . "web") }}
{{- end }}

{{- define "closet.web.selectorLabels" -}}
app.kubernetes.io/name: {{ include "closet.name" . }}-web
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "closet.web.labels" -}}
helm.sh/chart: {{ include "closet.chart" . }}
{{ include "closet.web.selectorLabels" . }}
app.kubernetes.io/component: web
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: closet
{{- end }}

{{/* web.image.repository:tag, each defaulting to the serving image's (which then must carry closet_client). */}}
{{- define "closet.web.image" -}}
{{- if and (not .Values.web.image.repository) (not .Values.web.image.tag) }}
{{- include "closet.image" . }}
{{- else }}
{{- $tag := default (default (printf "%s-%s" .Chart.AppVersion .Values.image.flavor) .Values.image.tag) .Values.web.image.tag }}
{{- printf "%s:%s" (default .Values.image.repository .Values.web.image.repository) $tag }}
{{- end }}
{{- end }}

{{/* Where the page finds the API contract its option controls come from (web ConfigMap). */}}
{{- define "closet.web.configDir" -}}
/etc/closet-web
{{- end }}
