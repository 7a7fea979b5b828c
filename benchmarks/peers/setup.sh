#!/usr/bin/env bash
# Create (or refresh) the separate virtualenv .venv-peers holding the peer crisis
# detectors that benchmarks/peers/run_peers.py runs beside mindrail.
#
#   bash benchmarks/peers/setup.sh            # build if missing or out of date, else no-op
#   bash benchmarks/peers/setup.sh --force    # rebuild from scratch
#
# Environment overrides:
#   PEERS_VENV     virtualenv path            (default: <repo>/.venv-peers)
#   PEERS_PYTHON   interpreter to build from  (default: python3; must be >= 3.11)
#
# Idempotent: the SHA-256 of requirements.txt is written to $PEERS_VENV/.peers-stamp
# after a successful build; a later run with the same hash only checks that the
# interpreter still starts, and exits. A changed requirements.txt rebuilds the
# virtualenv from scratch so no stale package survives.
#
# torch==2.13.0 is installed FIRST (the machine's local CPU wheel). Everything else is
# then installed with --no-deps from the fully pinned requirements.txt, because
# suicide-text-predictor declares torch==2.0.1 + torchtext==0.15.2, and letting pip
# resolve that would pull gigabytes of CUDA wheels.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PEERS_VENV:-$root/.venv-peers}"
req="$here/requirements.txt"
stamp="$venv/.peers-stamp"
base_python="${PEERS_PYTHON:-python3}"

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ $force -eq 0 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
   && "$venv/bin/python" -c 'import sys' 2>/dev/null; then
  echo "peers: $venv is up to date"
  exit 0
fi

start=$SECONDS

if ! "$base_python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "setup.sh: $base_python is missing or older than Python 3.11 (set PEERS_PYTHON)" >&2
  exit 1
fi

torch_pin="$(grep -E '^torch==' "$req" || true)"
if [[ -z "$torch_pin" ]]; then
  echo "setup.sh: no 'torch==' pin in $req" >&2
  exit 1
fi

# Rebuild from scratch; refuse to delete anything that is not a virtualenv.
if [[ -e "$venv" ]]; then
  if [[ ! -f "$venv/pyvenv.cfg" ]]; then
    echo "setup.sh: $venv exists but is not a virtualenv; not touching it" >&2
    exit 1
  fi
  rm -rf -- "$venv"
fi

echo "peers: creating $venv"
"$base_python" -m venv "$venv"
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check -qq)

echo "peers: installing $torch_pin (CPU) first"
"${pip[@]}" install -c "$req" "$torch_pin"

echo "peers: installing pinned peers and dependencies (--no-deps)"
"${pip[@]}" install --no-deps -r "$req"

# The installed torch must still be the pinned one (a CUDA build would mean a pin leaked).
"$py" - "$torch_pin" <<'PY'
import sys
from importlib.metadata import version

want = sys.argv[1].split("==", 1)[1]
got = version("torch")
if got.split("+", 1)[0] != want:
    sys.exit(f"setup.sh: expected torch {want}, found {got}")
PY

echo "peers: self-check (loads every peer once)"
"$py" "$here/run_peers.py" --self-check

echo "$want" > "$stamp"
echo "peers: ready in $((SECONDS - start)) s ($venv)"
