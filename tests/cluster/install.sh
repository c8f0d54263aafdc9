#!/usr/bin/env bash
# Build a real Kubernetes 1.20.2 control plane (kube-apiserver,
# kube-controller-manager, kube-scheduler) from Debian bookworm's source
# package, and install etcd, for the tests under tests/cluster/.
#
# Idempotent: if the three binaries are already in the cache dir and etcd is
# installed, it does nothing.  Run as root (or as a user with sudo) on Debian
# bookworm.  Cache dir: ${MLGATE_K8S_CACHE:-$HOME/.cache/mlgate/k8s-1.20.2}
# (binaries in bin/, full log of the last run in build.log).
set -euo pipefail

K8S_VERSION=1.20.2
SUITE=bookworm
CACHE="${MLGATE_K8S_CACHE:-$HOME/.cache/mlgate/k8s-$K8S_VERSION}"
BIN="$CACHE/bin"
LOG="$CACHE/build.log"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)
# dpkg-dev: dpkg-source; make + rsync: Kubernetes' build scripts
APT_PACKAGES=(etcd-server golang-1.19-go golang-github-modern-go-reflect2-dev dpkg-dev make rsync)
GO_BIN=/usr/lib/go-1.19/bin
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
SRC_ENTRY_BASE=/etc/apt/sources.list.d/mlgate-k8s-src

say() { printf '[mlgate-k8s] %s\n' "$*"; }
die() { printf '[mlgate-k8s] ERROR: %s\n' "$*" >&2; exit 1; }

have_binaries() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

if have_binaries && command -v etcd >/dev/null 2>&1; then
  say "kube-apiserver, kube-controller-manager, kube-scheduler already in $BIN and etcd installed: nothing to do"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo available)"
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

mkdir -p "$CACHE"
echo "=== $(date -u +%FT%TZ) tests/cluster/install.sh" >"$LOG"
NEED_BUILD=1
have_binaries && NEED_BUILD=0

# --- deb-src entry for the configured mirror ----------------------------------
# A copy of the first 'deb' entry for $SUITE main (URI, Signed-By and other
# options kept, so apt sees no conflicting options), as a 'deb-src' entry.
deb822_src_entry() {  # file
  awk -v suite="$SUITE" '
    function flush(   i) {
      if (n && types ~ /(^|[ \t])deb([ \t]|$)/ && (" " suites " ") ~ ("[ \t]" suite "[ \t]") &&
          (" " comps " ") ~ /[ \t]main[ \t]/ && tolower(enabled) != "no") {
        for (i = 1; i <= n; i++) print lines[i]
        done = 1; exit
      }
      n = 0; types = suites = comps = enabled = ""
    }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ { lines[++n] = $0; next }  # continuation (e.g. inline Signed-By key)
    {
      key = tolower($0); sub(/:.*/, "", key)
      val = $0; sub(/^[^:]*:[ \t]*/, "", val)
      if (key == "types") { types = val; $0 = "Types: deb-src" }
      else if (key == "suites") { suites = val; $0 = "Suites: " suite }
      else if (key == "components") { comps = val; $0 = "Components: main" }
      else if (key == "enabled") enabled = val
      lines[++n] = $0
    }
    END { if (!done) flush() }
  ' "$1"
}

oneline_src_entry() {  # file
  awk -v suite="$SUITE" '
    $1 == "deb" {
      opts = ""; i = 2
      if ($2 ~ /^\[/) {
        for (; i <= NF; i++) { opts = opts (opts == "" ? "" : " ") $i; if ($i ~ /\]$/) { i++; break } }
        opts = opts " "
      }
      if ($(i + 1) != suite) next
      for (j = i + 2; j <= NF; j++) if ($j == "main") {
        printf "deb-src %s%s %s main\n", opts, $i, suite; exit
      }
    }
  ' "$1"
}

APT_UPDATED=0
apt_update() {
  say "apt-get update"
  $SUDO apt-get update -qq >>"$LOG" 2>&1 || die "apt-get update failed (see $LOG)"
  APT_UPDATED=1
}

have_k8s_source() {
  apt-cache showsrc "kubernetes" 2>/dev/null | grep -q "^Version: .*really$K8S_VERSION"
}

NEED_UPDATE=0
if [ "$NEED_BUILD" = 1 ] && ! have_k8s_source; then
  entry="" ext=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$SRC_ENTRY_BASE.sources" ] || continue
    entry="$(deb822_src_entry "$f")"
    [ -n "$entry" ] && { ext=sources; break; }
  done
  if [ -z "$entry" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] && [ "$f" != "$SRC_ENTRY_BASE.list" ] || continue
      entry="$(oneline_src_entry "$f")"
      [ -n "$entry" ] && { ext=list; break; }
    done
  fi
  [ -n "$entry" ] || die "no 'deb' entry for $SUITE main in /etc/apt/sources.list{,.d/} to copy"
  say "adding a deb-src entry for $SUITE main ($SRC_ENTRY_BASE.$ext):"
  printf '%s\n' "$entry" | sed 's/^/    /'
  printf '%s\n' "$entry" | $SUDO tee "$SRC_ENTRY_BASE.$ext" >/dev/null
  NEED_UPDATE=1
fi

# --- apt packages -------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] && [ "$NEED_UPDATE" = 0 ] \
   && ! apt-get install -s -qq "${missing[@]}" >/dev/null 2>&1; then
  NEED_UPDATE=1  # e.g. fresh machine with empty package lists
fi
[ "$NEED_UPDATE" = 1 ] && apt_update
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
    || die "apt-get install failed (see $LOG)"
fi
command -v etcd >/dev/null 2>&1 || die "etcd not on PATH after installing etcd-server"

if [ "$NEED_BUILD" = 0 ]; then
  say "binaries already in $BIN: nothing to build"
  exit 0
fi
have_k8s_source || die "apt knows no kubernetes source package with version *really$K8S_VERSION (see $LOG)"

# --- fetch and unpack the source package --------------------------------------
WORK="$CACHE/build"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
cleanup
mkdir -p "$WORK/dl"
say "apt-get source --download-only kubernetes/$SUITE"
(cd "$WORK/dl" && apt-get source --download-only "kubernetes/$SUITE") >>"$LOG" 2>&1 \
  || die "apt-get source failed (see $LOG)"
dsc="$(ls "$WORK"/dl/kubernetes_*.dsc 2>/dev/null | head -n 1)"
case "$dsc" in
  *"really$K8S_VERSION"*) ;;
  *) die "unexpected source package: '${dsc##*/}' (want *really$K8S_VERSION)" ;;
esac

export GOPATH="$WORK/gopath"
TREE="$GOPATH/src/k8s.io/kubernetes"
mkdir -p "$(dirname "$TREE")"
say "unpacking ${dsc##*/}"
dpkg-source --no-check -x "$dsc" "$TREE" >>"$LOG" 2>&1 || die "dpkg-source -x failed (see $LOG)"
rm -rf "$WORK/dl"

# Vendored reflect2 v1.0.1 predates Go 1.18's runtime changes; Debian ships v1.0.2.
[ -d "$REFLECT2_SRC" ] || die "$REFLECT2_SRC missing"
say "replacing vendored github.com/modern-go/reflect2 with Debian's $(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)"
rm -rf "$TREE/vendor/github.com/modern-go/reflect2"
cp -rL "$REFLECT2_SRC" "$TREE/vendor/github.com/modern-go/reflect2"

# --- build --------------------------------------------------------------------
export PATH="$GO_BIN:$PATH"
export GOCACHE="$WORK/gocache" GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0
what=""
for b in "${BINARIES[@]}"; do what="$what cmd/$b"; done
say "building ${BINARIES[*]} with $(go version | awk '{print $3}') (about 6 min on 2 cores; log: $LOG)"
start=$(date +%s)
if ! (cd "$TREE" && make WHAT="${what# }") >>"$LOG" 2>&1; then
  tail -n 30 "$LOG" >&2
  die "build failed (full log: $LOG)"
fi
mkdir -p "$BIN"
for b in "${BINARIES[@]}"; do
  out="$TREE/_output/bin/$b"
  [ -x "$out" ] || out="$(find "$TREE/_output" -type f -name "$b" -perm -u+x | head -n 1)"
  [ -n "$out" ] && [ -x "$out" ] || die "built $b not found under _output"
  install -m 0755 "$out" "$BIN/$b.tmp" && mv -f "$BIN/$b.tmp" "$BIN/$b"
done
say "built in $(( $(date +%s) - start ))s: $("$BIN/kube-apiserver" --version)"
say "binaries in $BIN; removing the build tree"
