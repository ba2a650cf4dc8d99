#!/usr/bin/env bash
# Bring ner-backend up on its embedded default: set up the venv, train a small demo model on the
# GMB sample shipped in tests/data (once, ~1.5 minutes on 2 CPU cores), then tag what you type.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
MODEL=${MODEL:-models/demo}
if [ ! -f "$MODEL/metrics.json" ]; then
  .venv/bin/ner-backend train --data tests/data/gmb_train.csv --epochs 5 --lr 3e-4 --out "$MODEL"
fi
if [ -t 0 ]; then
  echo "Type a sentence per line (Ctrl-D to quit); each line comes back as JSON spans." >&2
fi
exec .venv/bin/ner-backend predict --model "$MODEL" --batch-lines 1
