#!/usr/bin/env bash
# Debian packages the real-parts tests use. Idempotent: skips apt when everything is already there.
set -euo pipefail
packages=(prometheus etcd-server podman runc busybox-static golang-1.19-go golang-github-modern-go-reflect2-dev)
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
