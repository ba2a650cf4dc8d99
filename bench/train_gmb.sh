#!/usr/bin/env bash
# The GMB accuracy run: train on the first 2,000 GMB sentences for 3 epochs, then evaluate on
# 1,000 sentences it never saw (39001-40000 of the shared file), timing both. Then, because one
# set of 1,000 sentences varies by about +-0.013 micro-F1 from another, evaluate on every sentence
# it never saw (2001-40000: 38,000 sentences, ~6 minutes here).
#   bash bench/train_gmb.sh ../shared/data/gmb/ner_dataset.csv [workdir]
set -euo pipefail
cd "$(dirname "$0")/.."
GMB=${1:?path to ner_dataset.csv}
WORK=${2:-$(mktemp -d)}
mkdir -p "$WORK"
PATH="$PWD/.venv/bin:$PATH"
python bench/gmb_slice.py "$GMB" "$WORK/heldout.csv" --first 39001 --last 40000
python bench/gmb_slice.py "$GMB" "$WORK/unseen.csv" --first 2001 --last 40000
/usr/bin/time -f "train wall %e s" ner-backend train --data "$GMB" --limit 2000 --epochs 3 --dev-fraction 0 --out "$WORK/gmb2000"
/usr/bin/time -f "evaluate wall %e s" ner-backend evaluate --model "$WORK/gmb2000" --data "$WORK/heldout.csv"
/usr/bin/time -f "evaluate (all unseen) wall %e s" ner-backend evaluate --model "$WORK/gmb2000" --data "$WORK/unseen.csv"
