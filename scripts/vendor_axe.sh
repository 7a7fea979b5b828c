#!/usr/bin/env bash
# axe-core from npm for the accessibility tests, vendored into .cache/npm (no CDN; nothing at run time).
# Prints the path of axe.min.js. Installs Debian's nodejs/npm with apt-get when missing (needs root, as in CI).
set -euo pipefail
AXE_VERSION="4.14.1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/.cache/npm"
JS="$DEST/node_modules/axe-core/axe.min.js"
if [[ -f "$JS" ]] && grep -q "\"version\": \"$AXE_VERSION\"" "$DEST/node_modules/axe-core/package.json"; then
  echo "$JS"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  if [[ "$(id -u)" != "0" ]]; then
    echo "vendor_axe.sh: npm is not installed and installing it needs root" >&2
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends nodejs npm >&2
fi
mkdir -p "$DEST"
npm install --silent --no-audit --no-fund --prefix "$DEST" "axe-core@$AXE_VERSION" >&2
echo "$JS"
