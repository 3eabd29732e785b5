{{/* Names, labels and the pieces every Deployment shares. */}}

{{- define "spend.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; a component's names are "<fullname>-<component>". */}}
{{- define "spend.fullname" -}}
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

{{/* "<fullname>-<component>", within the 63 characters of a DNS label. */}}
{{- define "spend.componentName" -}}
{{- $full := include "spend.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-" }}
{{- printf "%s-%s" $full .component }}
{{- end }}

{{- define "spend.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spend.labels" -}}
helm.sh/chart: {{ include "spend.chart" . }}
app.kubernetes.io/name: {{ include "spend.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spend
{{- end }}

{{/* Labels of one component: pass (dict "root" $ "component" "rewarder"). */}}
{{- define "spend.componentLabels" -}}
{{ include "spend.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "spend.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spend.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "spend.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spend.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "spend.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/* The Secret the services read: the user's, or the chart's. */}}
{{- define "spend.secretName" -}}
{{- default (include "spend.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "spend.configMapName" -}}
{{- include "spend.fullname" . }}
{{- end }}

{{/* Where the RS256 public key is mounted. */}}
{{- define "spend.jwtPublicKeyPath" -}}
/etc/spend/jwt/public.pem
{{- end }}

{{/* Where the CA files of the backends are mounted (from kafka.tls.caSecret, scylla.tls.caSecret). */}}
{{- define "spend.kafkaCaDir" -}}
/etc/spend/kafka-ca
{{- end }}
{{- define "spend.scyllaCaDir" -}}
/etc/spend/scylla-ca
{{- end }}

{{/* The CA volumes and mounts a pod needs: pass (dict "root" $ "kafka" BOOL "scylla" BOOL). */}}
{{- define "spend.caMounts" -}}
{{- if and .kafka .root.Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: {{ include "spend.kafkaCaDir" .root }}
  readOnly: true
{{- end }}
{{- if and .scylla .root.Values.scylla.tls.enabled .root.Values.scylla.tls.caSecret }}
- name: scylla-ca
  mountPath: {{ include "spend.scyllaCaDir" .root }}
  readOnly: true
{{- end }}
{{- end }}
{{- define "spend.caVolumes" -}}
{{- if and .kafka .root.Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .root.Values.kafka.tls.caSecret }}
    items:
      - key: {{ .root.Values.kafka.tls.caKey }}
        path: {{ .root.Values.kafka.tls.caKey }}
{{- end }}
{{- if and .scylla .root.Values.scylla.tls.enabled .root.Values.scylla.tls.caSecret }}
- name: scylla-ca
  secret:
    secretName: {{ .root.Values.scylla.tls.caSecret }}
    items:
      - key: {{ .root.Values.scylla.tls.caKey }}
        path: {{ .root.Values.scylla.tls.caKey }}
{{- end }}
{{- end }}

{{/* SPEND_SCYLLA_PASSWORD from the Secret, when the cluster needs authentication. */}}
{{- define "spend.scyllaPasswordEnv" -}}
{{- if .Values.scylla.auth.username }}
- name: SPEND_SCYLLA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "spend.secretName" . }}
      key: scylla-password
{{- end }}
{{- end }}

{{/* Whether the rewarder's replica count is owned by an autoscaler. */}}
{{- define "spend.rewarderAutoscaled" -}}
{{- if or .Values.rewarder.keda.enabled .Values.rewarder.hpa.enabled }}true{{ end }}
{{- end }}

{{/* Combinations the schema cannot express. */}}
{{- define "spend.validate" -}}
{{- if and .Values.rewarder.keda.enabled .Values.rewarder.hpa.enabled }}
{{- fail "rewarder.keda.enabled and rewarder.hpa.enabled are exclusive: pick one autoscaler" }}
{{- end }}
{{- if and (eq .Values.jwt.algorithm "RS256") (not .Values.jwt.publicKey) (not .Values.secrets.existingSecret) }}
{{- fail "jwt.algorithm RS256 needs jwt.publicKey (or secrets.existingSecret with a jwt-public-key key)" }}
{{- end }}
{{- if and (gt (int .Values.scylla.dataCenters) 1) (not .Values.scylla.localDc) }}
{{- fail "scylla.dataCenters is above 1: set scylla.localDc (the services refuse to start on a multi-DC cluster without it)" }}
{{- end }}
{{- if and .Values.scylla.auth.username (not .Values.scylla.auth.password) (not .Values.secrets.existingSecret) }}
{{- fail "scylla.auth.username needs scylla.auth.password (or secrets.existingSecret with a scylla-password key)" }}
{{- end }}
{{- if and .Values.jwt.secret (lt (len .Values.jwt.secret) 32) }}
{{- fail "jwt.secret must have at least 32 bytes" }}
{{- end }}
{{- with .Values.rewarder.keda }}
{{- if and .enabled (gt (int .minReplicas) (int .maxReplicas)) }}
{{- fail "rewarder.keda.minReplicas is above rewarder.keda.maxReplicas" }}
{{- end }}
{{- end }}
{{- with .Values.rewarder.hpa }}
{{- if and .enabled (gt (int .minReplicas) (int .maxReplicas)) }}
{{- fail "rewarder.hpa.minReplicas is above rewarder.hpa.maxReplicas" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The environment every service gets beyond the ConfigMap: the secrets it needs and its own.
Pass (dict "root" $ "component" NAME "values" SERVICE-VALUES "auth" BOOL "s3" BOOL
"kafka" BOOL "scylla" BOOL "listenVar" NAME "port" N).
*/}}
{{- define "spend.env" -}}
{{- $root := .root }}
{{- $secret := include "spend.secretName" $root }}
- name: {{ .listenVar }}
  value: {{ printf "0.0.0.0:%d" (int .port) | quote }}
{{- if .kafka }}
- name: SPEND_KAFKA_CLIENT_ID
  value: {{ printf "spend-%s" .component | quote }}
{{- end }}
{{- if .scylla }}
{{- include "spend.scyllaPasswordEnv" $root }}
{{- end }}
{{- if and .kafka $root.Values.kafka.sasl.mechanism }}
- name: SPEND_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: kafka-sasl-password
{{- end }}
{{- if .auth }}
{{- if eq $root.Values.jwt.algorithm "HS256" }}
- name: SPEND_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: jwt-secret
{{- else }}
- name: SPEND_JWT_PUBLIC_KEY
  value: {{ include "spend.jwtPublicKeyPath" $root | quote }}
{{- end }}
{{- end }}
{{- if and .s3 $root.Values.s3.endpoint }}
- name: SPEND_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: s3-access-key-id
      optional: true
- name: SPEND_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: s3-secret-access-key
      optional: true
{{- end }}
{{- range $name, $value := .values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* The command-line flags: the service's subcommand, Kafka properties, then extraArgs. */}}
{{- define "spend.args" -}}
- {{ .component }}
{{- if .kafka }}
{{- range $key, $value := .root.Values.kafka.properties }}
- {{ printf "--kafka-property=%s=%v" $key $value | quote }}
{{- end }}
{{- end }}
{{- range .values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* One probe from its values: pass (dict "probe" VALUES). */}}
{{- define "spend.probe" -}}
httpGet:
  path: {{ .probe.path }}
  port: http
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- with .probe.initialDelaySeconds }}
initialDelaySeconds: {{ . }}
{{- end }}
{{- end }}

{{/*
One service's Deployment. Pass (dict "root" $ "component" NAME "values" SERVICE-VALUES
"auth" BOOL "s3" BOOL "kafka" BOOL "listenVar" NAME "port" N "replicas" N-or-nil
"extraEnv" YAML-list-string).
*/}}
{{- define "spend.deployment" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $rs256 := and .auth (eq $root.Values.jwt.algorithm "RS256") }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "spend.componentName" . }}
  labels:
    {{- include "spend.componentLabels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" .replicas) }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "spend.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "spend.selectorLabels" . | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if not $root.Values.secrets.existingSecret }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .port | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "spend.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- with (default $root.Values.nodeSelector $v.nodeSelector) }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with (default $root.Values.tolerations $v.tolerations) }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with (default $root.Values.affinity $v.affinity) }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with (default $root.Values.topologySpreadConstraints $v.topologySpreadConstraints) }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "spend.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- include "spend.args" . | trim | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ .port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "spend.configMapName" $root }}
          env:
            {{- include "spend.env" . | trim | nindent 12 }}
            {{- with .extraEnv }}
            {{- . | nindent 12 }}
            {{- end }}
          livenessProbe:
            {{- include "spend.probe" (dict "probe" $v.probes.liveness) | nindent 12 }}
          readinessProbe:
            {{- include "spend.probe" (dict "probe" $v.probes.readiness) | nindent 12 }}
          startupProbe:
            {{- include "spend.probe" (dict "probe" $v.probes.startup) | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if $rs256 }}
            - name: jwt-public-key
              mountPath: {{ include "spend.jwtPublicKeyPath" $root | dir }}
              readOnly: true
            {{- end }}
            {{- with (include "spend.caMounts" . | trim) }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if $rs256 }}
        - name: jwt-public-key
          secret:
            secretName: {{ include "spend.secretName" $root }}
            items:
              - key: jwt-public-key
                path: {{ include "spend.jwtPublicKeyPath" $root | base }}
        {{- end }}
        {{- with (include "spend.caVolumes" . | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end }}

{{/* The Service in front of one component's pods. Same arguments as spend.deployment. */}}
{{- define "spend.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "spend.componentName" . }}
  labels:
    {{- include "spend.componentLabels" . | nindent 4 }}
  {{- with .values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .values.service.type }}
  selector:
    {{- include "spend.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .values.service.port }}
      targetPort: http
      protocol: TCP
{{- end }}

{{/* A PodDisruptionBudget for one component, when its values enable one. */}}
{{- define "spend.pdb" -}}
{{- if .values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "spend.componentName" . }}
  labels:
    {{- include "spend.componentLabels" . | nindent 4 }}
spec:
  {{- if hasKey .values.pdb "minAvailable" }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "spend.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}
