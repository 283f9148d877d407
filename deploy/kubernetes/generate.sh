#!/usr/bin/env bash
# Renders the plain manifests deploy/kubernetes/<name>.yaml from helm/stave, one per values file in
# deploy/kubernetes/values/, as `helm template stave helm/stave -n stave -f values/<name>.yaml` would
# (`make deploy-manifests`). Usage: generate.sh [OUT_DIR]; HELM_RENDER names a built renderer, else
# test/helm/build-renderer.sh builds one into .tmp/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/deploy/kubernetes}
renderer=${HELM_RENDER:-}
if [ -z "$renderer" ]; then
  renderer=$root/.tmp/helm-render
  "$root/test/helm/build-renderer.sh" "$renderer"
fi
mkdir -p "$out"
for values in "$root"/deploy/kubernetes/values/*.yaml; do
  name=$(basename "$values" .yaml)
  {
    echo "# Generated from helm/stave with deploy/kubernetes/values/$name.yaml by 'make deploy-manifests': do not edit."
    echo "# Install: kubectl create namespace stave && kubectl apply -n stave -f deploy/kubernetes/$name.yaml"
    "$renderer" -name stave -namespace stave -f "$values" "$root/helm/stave"
  } >"$out/$name.yaml.tmp"
  mv "$out/$name.yaml.tmp" "$out/$name.yaml"
done
