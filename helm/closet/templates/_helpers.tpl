{{/* Chart name, overridable. */}}
{{- define "closet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full object name: release-chart, cut to 63 characters (DNS label), trailing '-' trimmed. */}}
{{- define "closet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Namespace of every object. */}}
{{- define "closet.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* fullname plus a suffix, still at most 63 characters. */}}
{{- define "closet.suffixedName" -}}
{{- $ctx := index . 0 }}{{- $suffix := index . 1 }}
{{- printf "%s-%s" (include "closet.fullname" $ctx | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{- define "closet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. helm.sh/chart changes on upgrade, so it never enters selectors. */}}
{{- define "closet.labels" -}}
helm.sh/chart: {{ include "closet.chart" . }}
{{ include "closet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: closet
{{- end }}

{{/* Immutable selector labels (Deployment matchLabels, Service, PDB, NetworkPolicy). */}}
{{- define "closet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "closet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of the `helm test` pod: outside the serving selector, so no Service or PDB picks it up. */}}
{{- define "closet.testLabels" -}}
helm.sh/chart: {{ include "closet.chart" . }}
app.kubernetes.io/name: {{ include "closet.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "closet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "closet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image:tag or image@digest; the tag defaults to <appVersion>-<flavor>. */}}
{{- define "closet.image" -}}
{{- $tag := default (printf "%s-%s" .Chart.AppVersion .Values.image.flavor) .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Enabled model names, in the chart's fixed order. */}}
{{- define "closet.modelNames" -}}
{{- $names := list }}
{{- range $n := list "segmentation" "parsing" "translation" "closet" }}
{{- if (index $.Values.models $n).enabled }}{{- $names = append $names $n }}{{- end }}
{{- end }}
{{- join "," $names }}
{{- end }}

{{/*
TorchServe config.properties, rendered from values. Server keys match closet_dev/configgen.py's
"helm" variant (tests/infra/test_helm.py compares them key by key); the chart adds load_models from
models.*.enabled, models= from models.*, and number_of_gpu from gpu.*.
Inference and metrics listen on all addresses; management and gRPC stay on loopback in the pod.
*/}}
{{- define "closet.configProperties" -}}
{{- $ts := .Values.torchserve -}}
{{- $models := dict -}}
{{- $mars := list -}}
{{- range $n := splitList "," (include "closet.modelNames" .) }}
{{- $m := index $.Values.models $n }}
{{- $_ := set $models $n (dict $m.version (dict "defaultVersion" true "marName" (printf "%s.mar" $n) "minWorkers" $m.minWorkers "maxWorkers" $m.maxWorkers "batchSize" $m.batchSize "maxBatchDelay" $m.maxBatchDelay "responseTimeout" $m.responseTimeout)) }}
{{- $mars = append $mars (printf "%s.mar" $n) }}
{{- end -}}
# Rendered by the closet Helm chart from values (helm/closet/values.yaml).
inference_address=http://0.0.0.0:{{ $ts.ports.inference }}
management_address=http://127.0.0.1:{{ $ts.ports.management }}
metrics_address=http://0.0.0.0:{{ $ts.ports.metrics }}
grpc_inference_address=127.0.0.1
grpc_inference_port={{ $ts.ports.grpcInference }}
grpc_management_address=127.0.0.1
grpc_management_port={{ $ts.ports.grpcManagement }}
metrics_mode={{ $ts.metricsMode }}
enable_metrics_api=true
{{- if .Files.Get "files/metrics.yaml" }}
metrics_config={{ include "closet.configDir" . }}/metrics.yaml
{{- end }}
disable_token_authorization={{ not $ts.tokenAuthorization }}
enable_model_api=false
allowed_urls=file://{{ trimSuffix "/" .Values.modelStore.path }}/[A-Za-z0-9_-]+\\.mar
install_py_dep_per_model=false
max_request_size={{ int64 $ts.maxRequestSize }}
max_response_size={{ int64 $ts.maxResponseSize }}
job_queue_size={{ int64 $ts.jobQueueSize }}
{{- with $ts.jvmOptions }}
vmargs={{ . }}
{{- end }}
model_store={{ .Values.modelStore.path }}
load_models={{ join "," $mars }}
default_workers_per_model=1
# Same numbers as each .mar's model-config.yaml (the chart refuses to differ: the .mar wins in TorchServe 0.12).
models={{ toJson $models }}
number_of_gpu={{ ternary .Values.gpu.count 0 .Values.gpu.enabled }}
{{- range $k, $v := $ts.extraProperties }}
{{ $k }}={{ $v }}
{{- end }}
{{- end }}

{{/* prometheus_client's multiprocess directory (the worker-metrics emptyDir). */}}
{{- define "closet.multiprocDir" -}}
/home/model-server/prometheus-multiproc
{{- end }}

{{/*
"true" when the cluster serves an API (`group/version` or `group/version/Kind`, as
.Capabilities.APIVersions.Has takes it) or assumeAPIVersions lists it; "" otherwise.
Call: include "closet.hasAPI" (list . "monitoring.coreos.com/v1/ServiceMonitor")
*/}}
{{- define "closet.hasAPI" -}}
{{- $ctx := index . 0 }}{{- $api := index . 1 }}
{{- if or ($ctx.Capabilities.APIVersions.Has $api) (has $api $ctx.Values.assumeAPIVersions) }}true{{- end }}
{{- end }}

{{/*
The autoscaler this release really gets (NOTES.txt says why when it differs from the values):
  queue-time  HPA on the Pods metric prometheus-adapter serves (custom.metrics.k8s.io present)
  cpu         HPA on CPU utilisation: no custom metrics API, autoscaling.withoutAdapter=cpu, metrics.k8s.io present
  keda        KEDA ScaledObject (mode keda, keda.sh/v1alpha1/ScaledObject present)
  ""          none: the Deployment runs replicaCount pods
*/}}
{{- define "closet.autoscaler" -}}
{{- $a := .Values.autoscaling }}
{{- if $a.enabled }}
{{- if eq $a.mode "keda" }}
{{- if include "closet.hasAPI" (list . "keda.sh/v1alpha1/ScaledObject") }}keda{{ end }}
{{- else if or (include "closet.hasAPI" (list . "custom.metrics.k8s.io/v1beta1")) (include "closet.hasAPI" (list . "custom.metrics.k8s.io/v1beta2")) }}queue-time
{{- else if and (eq $a.withoutAdapter "cpu") (include "closet.hasAPI" (list . "metrics.k8s.io/v1beta1")) }}cpu
{{- end }}
{{- end }}
{{- end }}

{{/* Fewest pods the release runs: autoscaling.minReplicas under an autoscaler, else replicaCount. */}}
{{- define "closet.minReplicas" -}}
{{- if include "closet.autoscaler" . }}{{ .Values.autoscaling.minReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
The startup/readiness exec probe: scripts/ready.py (mounted from the ConfigMap) asks the
loopback management API whether every enabled model has minWorkers READY workers.
*/}}
{{- define "closet.readyProbe" -}}
exec:
  command:
    - {{ .Values.probes.python }}
    - {{ include "closet.configDir" . }}/ready.py
    - --management
    - http://127.0.0.1:{{ .Values.torchserve.ports.management }}
    - --models
    - {{ include "closet.modelNames" . }}
    {{- if .Values.torchserve.tokenAuthorization }}
    - --key-file
    - /home/model-server/work/key_file.json
    {{- end }}
{{- end }}

{{/* Where the ConfigMap (config.properties, metrics.yaml, ready.py) is mounted. */}}
{{- define "closet.configDir" -}}
/home/model-server/config
{{- end }}

{{/* Record name of the autoscaling signal, read from monitoring/rules/autoscaling.yml (never retyped). */}}
{{- define "closet.autoscalingRecord" -}}
{{- $rules := fromYaml (.Files.Get "files/monitoring/rules/autoscaling.yml") }}
{{- $record := "" }}
{{- range $rules.groups }}{{- range .rules }}{{- if and .record (not $record) }}{{- $record = .record }}{{- end }}{{- end }}{{- end }}
{{- if not $record }}
{{- fail "autoscaling: no recording rule in helm/closet/files/monitoring/rules/autoscaling.yml (a copy of monitoring/rules/: run `make chart`)" }}
{{- end }}
{{- $record }}
{{- end }}

{{/* Refuse value combinations the schema cannot express, with a message that names the fix. */}}
{{- define "closet.validate" -}}
{{- if eq (include "closet.modelNames" .) "" }}
{{- fail "models: enable at least one of segmentation, parsing, translation, closet" }}
{{- end }}
{{- range $n, $m := .Values.models }}
{{- if gt (int $m.minWorkers) (int $m.maxWorkers) }}
{{- fail (printf "models.%s: minWorkers (%v) must not exceed maxWorkers (%v)" $n $m.minWorkers $m.maxWorkers) }}
{{- end }}
{{- /* TorchServe 0.12 takes per-model knobs from the .mar's model-config.yaml over config.properties,
so a different value here would be ignored silently: refuse it instead. */}}
{{- $packed := fromYaml ($.Files.Get (printf "files/model-config/%s-model-config.yaml" $n)) }}
{{- if and $m.enabled $packed (not (hasKey $packed "Error")) }}
{{- range $k := list "minWorkers" "maxWorkers" "batchSize" "maxBatchDelay" "responseTimeout" }}
{{- if and (hasKey $packed $k) (ne (int (index $packed $k)) (int (index $m $k))) }}
{{- fail (printf "models.%s.%s=%v differs from %v packed in %s.mar (config/closet.yaml); TorchServe 0.12 lets the .mar win, so change config/closet.yaml, run `make config mars` and rebuild the image instead" $n $k (index $m $k) (index $packed $k) $n) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.gpu.enabled }}
{{- $tolerated := false }}
{{- range .Values.tolerations }}
{{- if and (eq (default "" .key) $.Values.gpu.resourceName) (or (eq (default "" .effect) "NoSchedule") (eq (default "" .effect) "")) }}{{- $tolerated = true }}{{- end }}
{{- end }}
{{- if not $tolerated }}
{{- fail (printf "gpu.enabled=true needs a toleration {key: %s, operator: Exists, effect: NoSchedule} for the GPU node pool taint; add it to tolerations or use values-cpu.yaml" .Values.gpu.resourceName) }}
{{- end }}
{{- end }}
{{- if and (eq .Values.modelStore.source "pvc") (not .Values.modelStore.pvc.existingClaim) }}
{{- fail "modelStore.source=pvc needs modelStore.pvc.existingClaim" }}
{{- end }}
{{- if and (eq .Values.modelStore.source "objectStorage") (not .Values.modelStore.objectStorage.uri) }}
{{- fail "modelStore.source=objectStorage needs modelStore.objectStorage.uri" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not .Values.autoscaling.enabled) (lt (int .Values.replicaCount) 1) }}
{{- fail "replicaCount must be at least 1 while the PodDisruptionBudget is enabled" }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if $pdb.enabled }}
{{- if eq (toString $pdb.minAvailable) (toString $pdb.maxUnavailable) }}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable (the other \"\")" }}
{{- else if and (ne (toString $pdb.minAvailable) "") (ne (toString $pdb.maxUnavailable) "") }}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable (the other \"\")" }}
{{- end }}
{{- /* An integer minAvailable at or above the pod count lets no pod be evicted: every node drain would hang. */}}
{{- if and (regexMatch "^[0-9]+$" (toString $pdb.minAvailable)) (ge (int $pdb.minAvailable) (int (include "closet.minReplicas" .))) }}
{{- fail (printf "podDisruptionBudget.minAvailable=%v leaves no pod evictable with %s pods (replicaCount, or autoscaling.minReplicas under an autoscaler): node drains would wait forever; raise the replicas or lower minAvailable" (toString $pdb.minAvailable) (include "closet.minReplicas" .)) }}
{{- end }}
{{- end }}
{{- if eq .Values.strategy.type "RollingUpdate" }}
{{- $ru := default dict .Values.strategy.rollingUpdate }}
{{- if and (has (toString (default 0 $ru.maxSurge)) (list "0" "0%")) (has (toString (default 0 $ru.maxUnavailable)) (list "0" "0%")) }}
{{- fail "strategy.rollingUpdate: maxSurge and maxUnavailable cannot both be 0 (Kubernetes refuses it): maxSurge 1 for zero downtime, or maxUnavailable 1 on a GPU pool without a spare GPU" }}
{{- end }}
{{- end }}
{{- if le (int .Values.progressDeadlineSeconds) (mul .Values.probes.startup.periodSeconds .Values.probes.startup.failureThreshold) }}
{{- fail (printf "progressDeadlineSeconds=%v must exceed the startup probe's budget (%v s): a rollout would be marked failed while its new pod is still loading models" .Values.progressDeadlineSeconds (mul .Values.probes.startup.periodSeconds .Values.probes.startup.failureThreshold)) }}
{{- end }}
{{- $p := .Values.torchserve.ports }}
{{- if ne (len (uniq (list (int $p.inference) (int $p.management) (int $p.metrics) (int $p.workerMetrics)))) 4 }}
{{- fail "torchserve.ports: inference, management, metrics and workerMetrics must differ" }}
{{- end }}
{{- end }}
