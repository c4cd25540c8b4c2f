{{/*
The pod's memory against what its workers need at the configured limits. files/memory.yaml is
written by `make config` from config/closet.yaml with closet_dev/memory.py (a formula fitted to
`make bench-memory`): every worker running a full batch at limits.max_pixels, plus the frontend and
a margin. A request or limit below it is refused, so raising max_pixels or a batch size in
config/closet.yaml (then `make config`) makes the chart ask for the memory to go with it.
*/}}

{{/* A Kubernetes memory quantity (16Gi, 17179869184, 16G, 512Mi) in MiB, as a float. */}}
{{- define "closet.quantityMi" -}}
{{- $q := toString . }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $unit := trimPrefix $number $q }}
{{- $factors := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 }}
{{- if or (not $number) (not (hasKey $factors $unit)) }}
{{- fail (printf "memory quantity %q: write it like 16Gi, 512Mi, 16G or a number of bytes" $q) }}
{{- end }}
{{- divf (mulf (float64 $number) (index $factors $unit)) 1048576.0 }}
{{- end }}

{{- define "closet.memoryCheck" -}}
{{- $need := fromYaml (.Files.Get "files/memory.yaml") }}
{{- if or (not $need) (hasKey $need "Error") (not (hasKey $need "podMi")) }}
{{- fail "files/memory.yaml is missing or unreadable: run `make config` (closet_dev/memory.py writes it)" }}
{{- end }}
{{- range $kind := list "requests" "limits" }}
{{- $q := dig $kind "memory" "" (default dict $.Values.resources) }}
{{- if not $q }}
{{- fail (printf "resources.%s.memory is not set; a pod needs %vMi at limits.max_pixels=%v (helm/closet/files/memory.yaml)" $kind $need.podMi (int64 $need.maxPixels)) }}
{{- end }}
{{- if lt (float64 (include "closet.quantityMi" $q)) (float64 $need.podMi) }}
{{- fail (printf "resources.%s.memory=%v is below the %vMi a pod needs when every worker runs a full batch at limits.max_pixels=%v (helm/closet/files/memory.yaml, written by `make config` from config/closet.yaml with closet_dev/memory.py): raise it, or lower max_pixels or a batch_size in config/closet.yaml" $kind $q $need.podMi (int64 $need.maxPixels)) }}
{{- end }}
{{- end }}
{{- end }}
