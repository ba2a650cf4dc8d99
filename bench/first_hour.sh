#!/usr/bin/env bash
# The first hour as Label Studio presents tasks: the simulated annotator on GMB in document order
# (sentences 1-5000 as imported; test: 39001-40000) and on BC5CDR (pool: train.conll in file order;
# test: the first 1,000 sentences of dev.conll, set aside before any run), for the import order
# (sequential), random, the cold start and entropy; then BC5CDR's full-data figure.
#   bash bench/first_hour.sh ../shared/data/gmb/ner_dataset.csv ../shared/data/bc5cdr [workdir]
set -euo pipefail
cd "$(dirname "$0")/.."
GMB=${1:?path to ner_dataset.csv}
BC5=${2:?path to the bc5cdr folder}
WORK=${3:-$(mktemp -d)}
mkdir -p "$WORK"
PATH="$PWD/.venv/bin:$PATH"
python bench/gmb_slice.py "$GMB" "$WORK/gmb-pool.csv" --first 1 --last 5000
python bench/gmb_slice.py "$GMB" "$WORK/gmb-test.csv" --first 39001 --last 40000
awk 'BEGIN { RS = ""; ORS = "\n\n" } NR <= 1000' "$BC5/dev.conll" > "$WORK/bc5-test.conll"
sim() { ner-backend simulate --json "$@"; }
sim --pool "$WORK/gmb-pool.csv" --test "$WORK/gmb-test.csv" --rounds 50,200 \
  --strategy sequential,coldstart,random --seed 0,1,2 > "$WORK/gmb.jsonl"
sim --pool "$BC5/train.conll" --test "$WORK/bc5-test.conll" --rounds 50,200,1000 \
  --strategy sequential,random,coldstart,entropy --seed 0 > "$WORK/bc5.jsonl"
sim --pool "$BC5/train.conll" --test "$WORK/bc5-test.conll" --rounds 50,200 \
  --strategy sequential,random,coldstart,entropy --seed 1,2 >> "$WORK/bc5.jsonl"
/usr/bin/time -f "train wall %e s" ner-backend train --data "$BC5/train.conll" --epochs 3 --dev-fraction 0.05 --out "$WORK/bc5-full"
ner-backend evaluate --model "$WORK/bc5-full" --data "$WORK/bc5-test.conll" --json > "$WORK/bc5-full.json"
python bench/strategies.py "$WORK/gmb.jsonl"
python bench/strategies.py "$WORK/bc5.jsonl"
