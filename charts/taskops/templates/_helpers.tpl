{{/* The chart name, or nameOverride. */}}
{{- define "taskops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: the release name, followed by the chart name unless the
release name already contains it. Truncated to leave room for suffixes such as "-operator-metrics".
*/}}
{{- define "taskops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "taskops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "taskops.labels" -}}
helm.sh/chart: {{ include "taskops.chart" . }}
app.kubernetes.io/name: {{ include "taskops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: taskops
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "operator"). */}}
{{- define "taskops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskops.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component's objects. */}}
{{- define "taskops.componentLabels" -}}
{{ include "taskops.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "taskops.operatorName" -}}
{{ include "taskops.fullname" . }}-operator
{{- end }}

{{- define "taskops.apiName" -}}
{{ include "taskops.fullname" . }}-api
{{- end }}

{{/* The Secret whose `secret` key signs completion webhooks. */}}
{{- define "taskops.webhookSecretName" -}}
{{- if .Values.webhook.existingSecret }}
{{- .Values.webhook.existingSecret }}
{{- else }}
{{- include "taskops.fullname" . }}-webhook
{{- end }}
{{- end }}

{{/* The image reference: repository@digest, or repository:tag (the appVersion by default). */}}
{{- define "taskops.image" -}}
{{- if eq .Values.image.tag "latest" }}
{{- fail "image.tag=latest is refused: pin a release (an empty tag means the chart's appVersion)" }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The namespace the RBAC for watched objects lives in (namespaced mode), failing early without one. */}}
{{- define "taskops.watchNamespace" -}}
{{- if .Values.rbac.namespaced }}
{{- required "rbac.namespaced=true needs watchNamespace: the one namespace taskops may work in" .Values.watchNamespace }}
{{- else }}
{{- .Values.watchNamespace }}
{{- end }}
{{- end }}

{{/* "Role" in namespaced mode, else "ClusterRole". */}}
{{- define "taskops.roleKind" -}}
{{- if .Values.rbac.namespaced }}Role{{ else }}ClusterRole{{ end }}
{{- end }}

{{/*
Metadata of a watched-objects Role or ClusterRole (and of its binding): a namespace only
in namespaced mode. Call with (dict "root" $ "name" NAME "component" COMPONENT).
*/}}
{{- define "taskops.scopedMetadata" -}}
name: {{ .name }}
{{- if .root.Values.rbac.namespaced }}
namespace: {{ include "taskops.watchNamespace" .root }}
{{- end }}
labels:
  {{- include "taskops.componentLabels" (dict "root" .root "component" .component) | nindent 2 }}
{{- end }}

{{/*
The pod spec parts both Deployments share: scheduling, pull secrets, pod security context.
Call with (dict "root" $ "component" COMPONENT).
*/}}
{{- define "taskops.podCommon" -}}
{{- $v := .root.Values }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ $v.podSecurity.runAsUser }}
  runAsGroup: {{ $v.podSecurity.runAsGroup }}
  fsGroup: {{ $v.podSecurity.fsGroup }}
  seccompProfile:
    type: RuntimeDefault
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if $v.affinity }}
  {{- toYaml $v.affinity | nindent 2 }}
{{- else }}
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "taskops.selectorLabels" . | nindent 14 }}
{{- end }}
{{- end }}

{{/* The container security context of both containers. */}}
{{- define "taskops.containerSecurityContext" -}}
securityContext:
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  privileged: false
  capabilities:
    drop:
      - ALL
{{- end }}

{{/* Pod template labels and annotations. Call with (dict "root" $ "component" COMPONENT). */}}
{{- define "taskops.podMetadata" -}}
labels:
  {{- include "taskops.componentLabels" . | nindent 2 }}
  {{- with .extraLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .root.Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The namespaces the admission policies judge (JSON): the watched namespace when there is one (two
namespaced releases then judge only their own), else every namespace.
*/}}
{{- define "taskops.admissionNamespaceSelector" -}}
{{- $watched := include "taskops.watchNamespace" . }}
{{- if $watched }}
{{- toJson (dict "matchLabels" (dict "kubernetes.io/metadata.name" $watched)) }}
{{- else }}
{{- toJson (dict) }}
{{- end }}
{{- end }}

{{/* The namespaces the optional pod-security policy judges (JSON): its own selector, else the above. */}}
{{- define "taskops.podSecurityNamespaceSelector" -}}
{{- with .Values.admissionPolicy.podSecurity.namespaceSelector }}
{{- toJson . }}
{{- else }}
{{- include "taskops.admissionNamespaceSelector" . }}
{{- end }}
{{- end }}
