#!/usr/bin/env bash
# The JavaScript the browser tests load: mermaid's bundle, so the job summary's xychart blocks are rendered by the
# same library GitHub uses. Installed from tests/js/package-lock.json (exact versions, integrity-checked by
# `npm ci`) into a cache outside the clone, reused while the lock is unchanged. Prints the bundle's path.
set -euo pipefail
cd "$(dirname "$0")/js"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mlgate/js"
stamp="$cache/.lock-sha256"
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -f "$cache/node_modules/mermaid/dist/mermaid.min.js" ]; then
  rm -rf "$cache"
  mkdir -p "$cache"
  cp package.json package-lock.json "$cache/"
  (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$stamp"
fi
echo "$cache/node_modules/mermaid/dist/mermaid.min.js"
