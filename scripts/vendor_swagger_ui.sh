#!/usr/bin/env bash
# Refresh the Swagger UI files that /docs serves (src/mindrail/gateway/apidocs) from npm's swagger-ui-dist.
# They are committed, so nothing is fetched at install or run time.
#   usage: scripts/vendor_swagger_ui.sh [VERSION]   (default: the version in use)
set -euo pipefail
VERSION="${1:-5.35.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/src/mindrail/gateway/apidocs"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null && tar xzf "swagger-ui-dist-$VERSION.tgz")
grep -q '"license": "Apache-2.0"' "$TMP/package/package.json" || { echo "swagger-ui-dist $VERSION: licence changed" >&2; exit 1; }
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
  cp "$TMP/package/$f" "$DEST/$f"
done
echo "swagger-ui-dist $VERSION -> $DEST"
