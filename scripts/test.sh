#!/usr/bin/env bash
# Run the whole test suite (slow end-to-end tests included) in the project's own venv.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
# The end-to-end tests drive a real Label Studio from its own venv (.cache/lsvenv, or $LS_VENV).
# Installing it is set-up, like the project's venv: done here, once, not inside a test's clock.
.venv/bin/python -c 'from backend.lsdemo import ensure_venv; from tests.labelstudio import LS_VENV; ensure_venv(LS_VENV)'
exec .venv/bin/python -m pytest "$@"
