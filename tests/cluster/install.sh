#!/usr/bin/env bash
# Build a real Kubernetes 1.20.2 control plane (kube-apiserver,
# kube-controller-manager, kube-scheduler) from Debian bookworm's source
# package and install etcd, for the tests under tests/cluster/.
#
# Idempotent: if the three binaries are already in the cache dir (and etcd is
# installed) it does nothing.  Run as root (or with sudo available) on Debian
# bookworm.  Cache dir: ${MLGATE_K8S_CACHE:-$HOME/.cache/mlgate/k8s-1.20.2}
set -euo pipefail

K8S_VERSION=1.20.2
SUITE=bookworm
CACHE="${MLGATE_K8S_CACHE:-$HOME/.cache/mlgate/k8s-$K8S_VERSION}"
BIN="$CACHE/bin"
LOG="$CACHE/build.log"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)
APT_PACKAGES=(etcd-server golang-1.19-go golang-github-modern-go-reflect2-dev dpkg-dev make rsync)
SRC_LIST=/etc/apt/sources.list.d/mlgate-k8s-src.sources
GO_BIN=/usr/lib/go-1.19/bin
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2

say() { printf '[mlgate-k8s] %s\n' "$*"; }
die() { printf '[mlgate-k8s] ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo available)"
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

have_binaries() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

if have_binaries && command -v etcd >/dev/null 2>&1; then
  say "kube-apiserver, kube-controller-manager, kube-scheduler already in $BIN and etcd installed: nothing to do"
  exit 0
fi

mkdir -p "$CACHE"

# --- apt packages -------------------------------------------------------------
APT_UPDATED=0
apt_update() {
  say "apt-get update"
  $SUDO apt-get update -qq >>"$LOG" 2>&1 || die "apt-get update failed (see $LOG)"
  APT_UPDATED=1
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1; then
    apt_update
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
      || die "apt-get install failed (see $LOG)"
  fi
fi
command -v etcd >/dev/null 2>&1 || die "etcd not on PATH after installing etcd-server"

if have_binaries; then
  say "binaries already in $BIN: nothing to build"
  exit 0
fi

# --- deb-src entry for the configured mirror ----------------------------------
# Prints "URI<TAB>SIGNED_BY" of the first 'deb' entry for $SUITE main (not security).
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") &&
            (" " comps " ") ~ / main / && uris != "" && enabled != "no") {
          split(uris, u, " "); printf "%s\t%s\n", u[1], signed; found = 1; exit
        }
        types = suites = comps = uris = signed = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key)
        val = $0; sub(/^[^:]*:[ \t]*/, "", val)
        if (key == "types") types = val
        else if (key == "uris") uris = val
        else if (key == "suites") suites = val
        else if (key == "components") comps = val
        else if (key == "signed-by") signed = val
        else if (key == "enabled") enabled = tolower(val)
      }
      END { if (!found) flush() }
    ' "$f" | head -n 1
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      $1 == "deb" {
        signed = ""; i = 2
        if ($2 ~ /^\[/) {
          opts = ""
          for (; i <= NF; i++) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } }
          if (match(opts, /signed-by=[^] ]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
        }
        uri = $i; s = $(i + 1)
        comps = ""; for (j = i + 2; j <= NF; j++) comps = comps " " $j
        if (s == suite && (comps " ") ~ / main /) { printf "%s\t%s\n", uri, signed; exit }
      }
    ' "$f" | head -n 1
  done
}

if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then
  mirror_line="$(find_mirror | head -n 1)"
  [ -n "$mirror_line" ] || die "no 'deb' entry for $SUITE main found in /etc/apt/sources.list{,.d}"
  MIRROR_URI="${mirror_line%%$'\t'*}"
  SIGNED_BY="${mirror_line#*$'\t'}"
  say "adding deb-src $MIRROR_URI $SUITE main ($SRC_LIST)"
  {
    echo "Types: deb-src"
    echo "URIs: $MIRROR_URI"
    echo "Suites: $SUITE"
    echo "Components: main"
    [ -n "$SIGNED_BY" ] && echo "Signed-By: $SIGNED_BY"
  } | $SUDO tee "$SRC_LIST" >/dev/null
  apt_update
fi

# --- fetch and unpack the source package --------------------------------------
WORK="$CACHE/build"
cleanup() { chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
cleanup
mkdir -p "$WORK/dl"
say "apt-get source --download-only kubernetes"
(cd "$WORK/dl" && apt-get source --download-only kubernetes) >>"$LOG" 2>&1 \
  || die "apt-get source failed (see $LOG)"
dsc="$(ls "$WORK"/dl/kubernetes_*.dsc | head -n 1)"
case "$dsc" in
  *"+really$K8S_VERSION"*|*"_$K8S_VERSION"*) ;;
  *) die "unexpected source version: $(basename "$dsc") (want $K8S_VERSION)" ;;
esac

export GOPATH="$WORK/gopath"
TREE="$GOPATH/src/k8s.io/kubernetes"
mkdir -p "$(dirname "$TREE")"
say "unpacking $(basename "$dsc")"
dpkg-source --no-check -x "$dsc" "$TREE" >>"$LOG" 2>&1 || die "dpkg-source -x failed (see $LOG)"
rm -rf "$WORK/dl"

say "replacing vendored github.com/modern-go/reflect2 with Debian's $(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)"
[ -d "$REFLECT2_SRC" ] || die "$REFLECT2_SRC missing"
rm -rf "$TREE/vendor/github.com/modern-go/reflect2"
cp -rL "$REFLECT2_SRC" "$TREE/vendor/github.com/modern-go/reflect2"

# --- build --------------------------------------------------------------------
export PATH="$GO_BIN:$PATH"
export GOCACHE="$WORK/gocache" GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0
export KUBE_GIT_VERSION="v$K8S_VERSION" KUBE_GIT_TREE_STATE=clean KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20
say "building ${BINARIES[*]} with $(go version | awk '{print $3}') (takes ~5 min; log: $LOG)"
start=$(date +%s)
what=""
for b in "${BINARIES[@]}"; do what="$what cmd/$b"; done
if ! (cd "$TREE" && make WHAT="${what# }") >>"$LOG" 2>&1; then
  tail -n 30 "$LOG" >&2
  die "build failed (full log: $LOG)"
fi
mkdir -p "$BIN"
for b in "${BINARIES[@]}"; do
  out="$(find "$TREE/_output" -type f -name "$b" -perm -u+x | head -n 1)"
  [ -n "$out" ] || die "built $b not found under _output"
  install -m 0755 "$out" "$BIN/$b.tmp" && mv -f "$BIN/$b.tmp" "$BIN/$b"
done
say "built in $(( $(date +%s) - start ))s: $("$BIN/kube-apiserver" --version)"
say "binaries in $BIN; removing build tree"
