#!/usr/bin/env bash
# Run the whole test suite (slow end-to-end tests included) in the project's own venv, after the
# set-up scripts (each returns at once once done). Extra arguments go to pytest, e.g.
# `bash scripts/test.sh -m "not slow" -x` or `bash scripts/test.sh tests/unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
bash scripts/setup-system.sh
bash scripts/setup-labelstudio.sh
exec .venv/bin/python -m pytest "$@"
