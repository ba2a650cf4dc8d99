#!/usr/bin/env bash
# Label Studio 1.23 in its own venv (.cache/lsvenv, or $LS_VENV) for the end-to-end tests and
# `ner-backend up --label-studio`: about 1.5-2.5 minutes and 1 GB once, then it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
.venv/bin/python -m backend.ops.lsdemo "${LS_VENV:-.cache/lsvenv}"
