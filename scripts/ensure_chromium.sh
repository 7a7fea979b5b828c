#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it through executable_path; no browser download).
# Prints the executable's path. Installs the `chromium` package with apt-get when missing (needs root, as in CI).
set -euo pipefail
for c in /usr/bin/chromium /usr/bin/chromium-browser; do
  if [[ -x "$c" ]]; then
    echo "$c"
    exit 0
  fi
done
if [[ "$(id -u)" != "0" ]]; then
  echo "ensure_chromium.sh: chromium is not installed and installing it needs root" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
echo /usr/bin/chromium
