#!/usr/bin/env bash
# Bring ner-backend up on its embedded default: the venv, a demo bootstrap model trained once on the
# GMB sample in tests/data (~1.5 minutes on 2 CPU cores), then Redis + the backend on
# 127.0.0.1:9090 + one training worker, in the foreground until Ctrl-C. Everything it writes goes
# under DATA_DIR (default ./data). Set BOOTSTRAP_MODEL (even to "") to skip the demo model.
# Extra arguments go to `ner-backend up` (e.g. --port 9091 --redis-port 6391).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
export DATA_DIR=${DATA_DIR:-data}
if [ -z "${BOOTSTRAP_MODEL+set}" ]; then
  BOOTSTRAP_MODEL="$DATA_DIR/models/demo"
  if [ ! -f "$BOOTSTRAP_MODEL/metrics.json" ]; then
    .venv/bin/ner-backend train --data tests/data/gmb_train.csv --epochs 5 --lr 3e-4 --out "$BOOTSTRAP_MODEL"
  fi
fi
export BOOTSTRAP_MODEL
exec .venv/bin/ner-backend up "$@"
