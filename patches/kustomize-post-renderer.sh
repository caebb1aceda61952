#!/bin/sh
# Helm post-renderer: apply the kustomize patches of one chart to the manifests Helm rendered.
#
#   helm template|install|upgrade ... \
#     --post-renderer patches/kustomize-post-renderer.sh --post-renderer-args patches/<chart>
#
# helmfile passes the same through a release's `postRenderer:` and `postRendererArgs:`.
# patches/<chart>/kustomization.yaml holds only patches (and generators), never `resources:`: the
# rendered manifests become its one resource here, in a scratch copy, so the folder itself stays
# what chartkeeper reads when it checks the patches against a chart version (`lint`, `diff`).
# Needs `kustomize` or `kubectl` (v1.21+, which embeds kustomize) on PATH.
set -eu

dir=${1:?usage: kustomize-post-renderer.sh PATCH_FOLDER   (e.g. patches/gpu-operator)}
if [ ! -f "$dir/kustomization.yaml" ]; then
  echo "kustomize-post-renderer: $dir/kustomization.yaml not found" >&2
  exit 1
fi
if grep -q '^resources:' "$dir/kustomization.yaml"; then
  echo "kustomize-post-renderer: $dir/kustomization.yaml must not list resources: (the rendered chart is its resource)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kustomize-post-renderer.XXXXXX")
trap 'rm -rf "$work"' EXIT HUP INT TERM
cp -R "$dir"/. "$work"/
cat > "$work/helm-rendered.yaml"
printf '\nresources:\n  - helm-rendered.yaml\n' >> "$work/kustomization.yaml"

if command -v kustomize >/dev/null 2>&1; then
  kustomize build "$work"
else
  kubectl kustomize "$work"
fi
