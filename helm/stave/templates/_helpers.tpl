{{/*
Names and labels, as `helm create` lays them out. Helpers that concern one component take a dict:
(dict "ctx" $ "component" "ingester"); "component" may be left out for release-wide objects.
*/}}

{{- define "stave.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stave.fullname" -}}
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

{{- define "stave.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <fullname>-<component>, or <fullname> for release-wide objects. */}}
{{- define "stave.resourceName" -}}
{{- $full := include "stave.fullname" .ctx }}
{{- if .component }}
{{- printf "%s-%s" $full .component | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $full }}
{{- end }}
{{- end }}

{{- define "stave.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stave.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "stave.labels" -}}
helm.sh/chart: {{ include "stave.chart" .ctx }}
{{ include "stave.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Values.image.tag | default .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{- define "stave.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stave.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "stave.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The DNS name of a Service of this release: <name>.<namespace>.svc.<clusterDomain>. */}}
{{- define "stave.serviceFqdn" -}}
{{- printf "%s.%s.svc.%s" .name .ctx.Release.Namespace .ctx.Values.clusterDomain }}
{{- end }}

{{- define "stave.microservices" -}}
{{- if eq .Values.deploymentMode "microservices" }}true{{ end }}
{{- end }}

{{/*
Replication factor: the value when set, else 3, or fewer when fewer ingesters (or single-binary replicas)
run, so that a write quorum can always be met.
*/}}
{{- define "stave.replicationFactor" -}}
{{- if .Values.replicationFactor }}
{{- .Values.replicationFactor | int }}
{{- else if include "stave.microservices" . }}
{{- min 3 (int .Values.ingester.replicas) }}
{{- else }}
{{- min 3 (int .Values.singleBinary.replicas) }}
{{- end }}
{{- end }}

{{/*
The receivers that run, as a YAML list of {name, port, protocol, config}: `config` is the receiver's path
under distributor.receivers.
*/}}
{{- define "stave.receivers" -}}
{{- $t := .Values.traces }}
{{- if $t.otlp.grpc.enabled }}
- {name: otlp-grpc, port: {{ $t.otlp.grpc.port | int }}, protocol: TCP, receiver: otlp, protocolKey: grpc}
{{- end }}
{{- if $t.otlp.http.enabled }}
- {name: otlp-http, port: {{ $t.otlp.http.port | int }}, protocol: TCP, receiver: otlp, protocolKey: http}
{{- end }}
{{- if $t.jaeger.grpc.enabled }}
- {name: jaeger-grpc, port: {{ $t.jaeger.grpc.port | int }}, protocol: TCP, receiver: jaeger, protocolKey: grpc}
{{- end }}
{{- if $t.jaeger.thriftHttp.enabled }}
- {name: jaeger-http, port: {{ $t.jaeger.thriftHttp.port | int }}, protocol: TCP, receiver: jaeger, protocolKey: thrift_http}
{{- end }}
{{- if $t.jaeger.thriftCompact.enabled }}
- {name: jaeger-compact, port: {{ $t.jaeger.thriftCompact.port | int }}, protocol: UDP, receiver: jaeger, protocolKey: thrift_compact}
{{- end }}
{{- if $t.jaeger.thriftBinary.enabled }}
- {name: jaeger-binary, port: {{ $t.jaeger.thriftBinary.port | int }}, protocol: UDP, receiver: jaeger, protocolKey: thrift_binary}
{{- end }}
{{- if $t.zipkin.enabled }}
- {name: zipkin, port: {{ $t.zipkin.port | int }}, protocol: TCP, receiver: zipkin}
{{- end }}
{{- end }}

{{/*
The config the chart generates from its values (ports, gossip, frontend address, storage, receivers), in
Tempo's keys; `config` in values.yaml is merged over it (stave.configYaml).
*/}}
{{- define "stave.generatedConfig" -}}
{{- $ms := include "stave.microservices" . }}
{{- $full := include "stave.fullname" . }}
{{- $st := .Values.storage }}
multitenancy_enabled: {{ .Values.multitenancyEnabled }}
server:
  http_listen_port: {{ .Values.ports.http | int }}
  grpc_listen_port: {{ .Values.ports.grpc | int }}
distributor:
  receivers:
    {{- range (include "stave.receivers" . | fromYamlArray) }}
    {{- if eq .receiver "zipkin" }}
    zipkin:
      endpoint: "0.0.0.0:{{ .port }}"
    {{- end }}
    {{- end }}
    {{- range $r := list "otlp" "jaeger" }}
    {{- $on := list }}
    {{- range (include "stave.receivers" $ | fromYamlArray) }}
    {{- if eq .receiver $r }}{{ $on = append $on . }}{{ end }}
    {{- end }}
    {{- if $on }}
    {{ $r }}:
      protocols:
        {{- range $on }}
        {{ .protocolKey }}:
          endpoint: "0.0.0.0:{{ .port }}"
        {{- end }}
    {{- end }}
    {{- end }}
ingester:
  lifecycler:
    ring:
      replication_factor: {{ include "stave.replicationFactor" . }}
memberlist:
  bind_port: {{ .Values.ports.gossip | int }}
  cluster_label: {{ printf "%s.%s" .Release.Name .Release.Namespace | quote }}
  join_members:
    - {{ printf "dns+%s:%d" (include "stave.serviceFqdn" (dict "ctx" . "name" (printf "%s-gossip-ring" $full))) (int .Values.ports.gossip) | quote }}
{{- if $ms }}
querier:
  frontend_worker:
    frontend_address: {{ printf "dns+%s:%d" (include "stave.serviceFqdn" (dict "ctx" . "name" (printf "%s-query-frontend-discovery" $full))) (int .Values.ports.grpc) | quote }}
{{- end }}
{{- if and $ms .Values.metricsGenerator.enabled }}
metrics_generator:
  storage:
    path: /var/lib/stave/generator/wal
{{- end }}
storage:
  trace:
    backend: {{ $st.backend }}
    wal:
      path: /var/lib/stave/wal
    {{- if eq $st.backend "local" }}
    local:
      path: {{ $st.local.path | quote }}
    {{- else if eq $st.backend "s3" }}
    s3:
      {{- $s3 := omit $st.s3 "existingSecret" "accessKeyIdKey" "secretAccessKeyKey" }}
      {{- $_ := required "storage.s3.bucket is required with storage.backend s3" $s3.bucket }}
      {{- if $st.s3.existingSecret }}
      {{- $_ := set $s3 "access_key" "${STAVE_S3_ACCESS_KEY}" }}
      {{- $_ := set $s3 "secret_key" "${STAVE_S3_SECRET_KEY}" }}
      {{- end }}
      {{- toYaml $s3 | nindent 6 }}
    {{- else if eq $st.backend "gcs" }}
    gcs:
      {{- $gcs := omit $st.gcs "existingSecret" "serviceAccountKeyKey" }}
      {{- $_ := required "storage.gcs.bucket_name is required with storage.backend gcs" $gcs.bucket_name }}
      {{- toYaml $gcs | nindent 6 }}
    {{- else if eq $st.backend "azure" }}
    azure:
      {{- $az := omit $st.azure "existingSecret" "accountKeyKey" "connectionStringKey" }}
      {{- $_ := required "storage.azure.container_name is required with storage.backend azure" $az.container_name }}
      {{- if $st.azure.existingSecret }}
      {{- if $st.azure.connectionStringKey }}
      {{- $_ := set $az "connection_string" "${STAVE_AZURE_CONNECTION_STRING}" }}
      {{- else }}
      {{- $_ := required "storage.azure.storage_account_name is required with storage.azure.existingSecret (or set connectionStringKey)" $az.storage_account_name }}
      {{- $_ := set $az "storage_account_key" "${STAVE_AZURE_ACCOUNT_KEY}" }}
      {{- end }}
      {{- end }}
      {{- toYaml $az | nindent 6 }}
    {{- else }}
    {{- fail (printf "storage.backend must be local, s3, gcs or azure, not %q" $st.backend) }}
    {{- end }}
{{- end }}

{{/* stave.yaml: the generated config with `config` from values merged over it. */}}
{{- define "stave.configYaml" -}}
{{- $generated := include "stave.generatedConfig" . | fromYaml }}
{{- if hasKey $generated "Error" }}
{{- fail (printf "generated config does not parse: %s" $generated.Error) }}
{{- end }}
{{- toYaml (mustMergeOverwrite $generated (deepCopy .Values.config)) }}
{{- end }}

{{/* Environment that carries secrets by reference into ${VAR}s of stave.yaml (-config.expand-env=true). */}}
{{- define "stave.storageEnv" -}}
{{- $st := .Values.storage }}
{{- if and (eq $st.backend "s3") $st.s3.existingSecret }}
- name: STAVE_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $st.s3.existingSecret }}
      key: {{ $st.s3.accessKeyIdKey }}
- name: STAVE_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $st.s3.existingSecret }}
      key: {{ $st.s3.secretAccessKeyKey }}
{{- else if and (eq $st.backend "gcs") $st.gcs.existingSecret }}
- name: GOOGLE_APPLICATION_CREDENTIALS
  value: /var/secrets/gcs/{{ $st.gcs.serviceAccountKeyKey }}
{{- else if and (eq $st.backend "azure") $st.azure.existingSecret }}
{{- if $st.azure.connectionStringKey }}
- name: STAVE_AZURE_CONNECTION_STRING
  valueFrom:
    secretKeyRef:
      name: {{ $st.azure.existingSecret }}
      key: {{ $st.azure.connectionStringKey }}
{{- else }}
- name: STAVE_AZURE_ACCOUNT_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $st.azure.existingSecret }}
      key: {{ $st.azure.accountKeyKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* A value that is a string is rendered with tpl (so it can use helpers); a map or list as it is. */}}
{{- define "stave.tplValue" -}}
{{- if kindIs "string" .value }}
{{- tpl .value .ctx | trim }}
{{- else }}
{{- toYaml .value }}
{{- end }}
{{- end }}

{{/*
Which volumes hold blocks of the local backend in microservices mode: one shared claim (ReadWriteMany)
mounted by the components that write or read blocks (the query-frontend reads the blocklist to cut
searches into jobs).
*/}}
{{- define "stave.sharedBlocks" -}}
{{- if and (include "stave.microservices" .ctx) (eq .ctx.Values.storage.backend "local") (has .component (list "ingester" "querier" "query-frontend" "compactor")) }}true{{ end }}
{{- end }}

{{- define "stave.blocksClaimName" -}}
{{- default (printf "%s-blocks" (include "stave.fullname" .)) .Values.storage.local.existingClaim }}
{{- end }}

{{/*
The pod template of one component. Takes (dict "ctx" $ "component" "<name>" "values" <component values>
"target" "<-target>" "gossip" <bool> "receivers" <bool> "dataVolume" <bool: the workload supplies "data">).
*/}}
{{- define "stave.podTemplate" -}}
{{- $ctx := .ctx }}
{{- $v := .values }}
{{- $st := $ctx.Values.storage -}}
metadata:
  labels:
    {{- include "stave.labels" . | nindent 4 }}
    {{- if .gossip }}
    app.kubernetes.io/part-of: memberlist
    {{- end }}
    {{- with $ctx.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include "stave.configYaml" $ctx | sha256sum }}
    {{- with (merge (dict) ($v.podAnnotations | default dict) $ctx.Values.podAnnotations) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "stave.serviceAccountName" $ctx }}
  {{- with $ctx.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $ctx.Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds | int }}
  containers:
    - name: {{ .component }}
      image: {{ include "stave.image" $ctx }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      args:
        - -target={{ .target }}
        - -config.file=/conf/stave.yaml
        - -config.expand-env=true
        {{- range concat $ctx.Values.extraArgs ($v.extraArgs | default list) }}
        - {{ . | quote }}
        {{- end }}
      ports:
        - name: http-metrics
          containerPort: {{ $ctx.Values.ports.http | int }}
          protocol: TCP
        - name: grpc
          containerPort: {{ $ctx.Values.ports.grpc | int }}
          protocol: TCP
        {{- if .gossip }}
        - name: gossip-ring
          containerPort: {{ $ctx.Values.ports.gossip | int }}
          protocol: TCP
        - name: gossip-ring-udp
          containerPort: {{ $ctx.Values.ports.gossip | int }}
          protocol: UDP
        {{- end }}
        {{- if .receivers }}
        {{- range (include "stave.receivers" $ctx | fromYamlArray) }}
        - name: {{ .name }}
          containerPort: {{ .port }}
          protocol: {{ .protocol }}
        {{- end }}
        {{- end }}
      {{- $env := concat (include "stave.storageEnv" $ctx | fromYamlArray) $ctx.Values.extraEnv ($v.extraEnv | default list) }}
      {{- with $env }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      readinessProbe:
        {{- toYaml $ctx.Values.readinessProbe | nindent 8 }}
      {{- with $v.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /conf
          readOnly: true
        - name: data
          mountPath: /var/lib/stave
        - name: tmp
          mountPath: /tmp
        {{- if include "stave.sharedBlocks" . }}
        - name: blocks
          mountPath: {{ $st.local.path }}
        {{- end }}
        {{- if and (eq $st.backend "gcs") $st.gcs.existingSecret }}
        - name: gcs-credentials
          mountPath: /var/secrets/gcs
          readOnly: true
        {{- end }}
  {{- with $v.nodeSelector | default $ctx.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations | default $ctx.Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- include "stave.tplValue" (dict "value" . "ctx" $ctx) | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- include "stave.tplValue" (dict "value" . "ctx" $ctx) | nindent 4 }}
  {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "stave.fullname" $ctx }}
    - name: tmp
      emptyDir: {}
    {{- if not .dataVolume }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- if include "stave.sharedBlocks" . }}
    - name: blocks
      persistentVolumeClaim:
        claimName: {{ include "stave.blocksClaimName" $ctx }}
    {{- end }}
    {{- if and (eq $st.backend "gcs") $st.gcs.existingSecret }}
    - name: gcs-credentials
      secret:
        secretName: {{ $st.gcs.existingSecret }}
    {{- end }}
{{- end }}
