#!/usr/bin/env bash
# Debian packages the real-parts tests use. Idempotent: skips apt when everything is already there.
set -euo pipefail

# kubectl with kustomize v5 renders every manifest (mlgate deploy, the security gate's kustomizations). Not from
# Debian: its kubernetes-client 1.20 ships kustomize v2, which renders differently. The machines of this project
# ship kubectl 1.32 (kustomize v5.5) from google-cloud-cli; elsewhere install kubectl >= 1.27 from
# https://kubernetes.io/docs/tasks/tools/ (or the google-cloud-cli / kubernetes apt repositories).
if ! command -v kubectl >/dev/null 2>&1; then
  echo "kubectl not found on PATH: the real-parts tests need kubectl >= 1.27 (kustomize v5 inside);" \
    "install it from https://kubernetes.io/docs/tasks/tools/ (not Debian's kubernetes-client 1.20)" >&2
  exit 1
fi
kustomize_version=$(kubectl version --client -o json 2>/dev/null |
  sed -n 's/.*"kustomizeVersion": *"\([^"]*\)".*/\1/p' || true)
case "$kustomize_version" in
  v[5-9].* | v[1-9][0-9]*.*) echo "kubectl $(command -v kubectl): kustomize $kustomize_version" ;;
  *)
    echo "kubectl $(command -v kubectl) ships kustomize '${kustomize_version:-unknown}': the real-parts tests" \
      "need kustomize v5 (kubectl >= 1.27); install a newer kubectl" >&2
    exit 1
    ;;
esac

packages=(prometheus etcd-server podman runc busybox-static golang-1.19-go golang-github-modern-go-reflect2-dev chromium)
# npm fetches mermaid's bundle for the browser tests (tests/install-js.sh); a machine may already have a newer
# nodejs (with npm inside) from elsewhere, so Debian's is installed only when there is no npm at all.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "debian packages present: ${packages[*]}"
  exit 0
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
