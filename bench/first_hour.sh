#!/usr/bin/env bash
# The first hour as Label Studio presents tasks and as the service trains: the simulated annotator
# on GMB in document order (sentences 1-5000 as imported; test: 39001-40000) and on BC5CDR (pool:
# train.conll in file order; test: the first 1,000 sentences of dev.conll, set aside before any
# run), in the cold-start order, trained after 10, 25, 50, 100 and 200 tasks (each version serves
# the next tasks, and the annotators' edits of its spans set the next served floor), and every 10
# tasks up to 100 as the service trains (3 seeds; WNUT-17 seed 0), with and
# without mention replacement (MENTION_REPLACEMENT) and the encoder adapted to the pool
# (ADAPT_STEPS), and with spans scored by their words' chance alone (SPAN_SCORE=chance); 200 tasks with a noisy second annotator of every task, trained on the newest
# annotation, the spans both marked or both; then the tasks the model's order (entropy after the
# cold start, within the cover clusters, or BALD among the least confident) needs to reach random
# order's F1 after 1,000. With a WNUT-17 folder, the cold-start flow on its tweets too (pool:
# wnut17train.conll in file order; test: emerging.dev.conll), a corpus nothing was tuned on.
#   bash bench/first_hour.sh ../shared/data/gmb/ner_dataset.csv ../shared/data/bc5cdr [workdir] [wnut17 folder]
set -euo pipefail
cd "$(dirname "$0")/.."
GMB=${1:?path to ner_dataset.csv}
BC5=${2:?path to the bc5cdr folder}
WORK=${3:-$(mktemp -d)}
WNUT=${4:-}
mkdir -p "$WORK"
PATH="$PWD/.venv/bin:$PATH"
export DATA_DIR="$WORK/data"  # the adapted encoders, one per pool
python bench/gmb_slice.py "$GMB" "$WORK/gmb-pool.csv" --first 1 --last 5000
python bench/gmb_slice.py "$GMB" "$WORK/gmb-test.csv" --first 39001 --last 40000
awk 'BEGIN { RS = ""; ORS = "\n\n" } NR <= 1000' "$BC5/dev.conll" > "$WORK/bc5-test.conll"
sim() { ner-backend simulate --json "$@"; }
gmb=(--pool "$WORK/gmb-pool.csv" --test "$WORK/gmb-test.csv")
bc5=(--pool "$BC5/train.conll" --test "$WORK/bc5-test.conll")
for corpus in gmb bc5; do
  declare -n data=$corpus
  # --floors: each version's test edits saved from every floor, both scores (what the priors are chosen on)
  sim "${data[@]}" --rounds 10,25,50,100,200 --strategy coldstart --seed 0,1,2 --floors > "$WORK/$corpus.jsonl"
  MENTION_REPLACEMENT=off sim "${data[@]}" --rounds 10,25,50,100,200 --strategy coldstart --seed 0,1,2 \
    > "$WORK/$corpus-nomentions.jsonl"
  SPAN_SCORE=chance sim "${data[@]}" --rounds 10,25,50,100,200 --strategy coldstart --seed 0,1,2 \
    > "$WORK/$corpus-chance.jsonl"
  ADAPT_STEPS=0 sim "${data[@]}" --rounds 50 --strategy coldstart --seed 0,1,2 > "$WORK/$corpus-unadapted.jsonl"
  sim "${data[@]}" --rounds 200 --strategy coldstart --seed 0,1,2 > "$WORK/$corpus-one-annotator.jsonl"
  for merge in newest agreement both; do  # every task annotated again by a careless second annotator
    sim "${data[@]}" --rounds 200 --strategy coldstart --seed 0,1,2 --second-annotator 0.2 --merge $merge \
      > "$WORK/$corpus-second-$merge.jsonl"
  done
  # the service's cadence: a version every TRAIN_EVERY (10) tasks, each judged on the newest versions' edits
  sim "${data[@]}" --rounds "$(seq -s, 10 10 100)" --strategy coldstart --seed 0,1,2 > "$WORK/$corpus-cadence.jsonl"
  # active learning as the service orders tasks (cold start, then the model's), trained every 50
  sim "${data[@]}" --rounds 1000 --strategy random --seed 0 > "$WORK/$corpus-al.jsonl"
  sim "${data[@]}" --rounds 10,25,50,100,$(seq -s, 150 50 700) --strategy coldstart,clustered,bald --seed 0 \
    >> "$WORK/$corpus-al.jsonl"
  sim "${data[@]}" --rounds 1000 --strategy random --seed 1,2 >> "$WORK/$corpus-al.jsonl"
  sim "${data[@]}" --rounds 10,25,50,100,$(seq -s, 150 50 500) --strategy coldstart,bald --seed 1,2 \
    >> "$WORK/$corpus-al.jsonl"
done
if [ -n "$WNUT" ]; then
  sim --pool "$WNUT/wnut17train.conll" --test "$WNUT/emerging.dev.conll" --rounds 10,25,50,100,200 \
    --strategy coldstart --seed 0,1,2 --floors > "$WORK/wnut.jsonl"
  sim --pool "$WNUT/wnut17train.conll" --test "$WNUT/emerging.dev.conll" --rounds "$(seq -s, 10 10 100)" \
    --strategy coldstart --seed 0 > "$WORK/wnut-cadence.jsonl"
  SPAN_SCORE=chance sim --pool "$WNUT/wnut17train.conll" --test "$WNUT/emerging.dev.conll" \
    --rounds 10,25,50,100,200 --strategy coldstart --seed 0,1,2 > "$WORK/wnut-chance.jsonl"
  python bench/strategies.py "$WORK/wnut.jsonl" "$WORK/wnut-chance.jsonl=spans scored by their words' chance alone"
fi
for corpus in gmb bc5; do
  python bench/strategies.py "$WORK/$corpus.jsonl" "$WORK/$corpus-nomentions.jsonl=without mention replacement" \
    "$WORK/$corpus-unadapted.jsonl=unadapted" "$WORK/$corpus-chance.jsonl=spans scored by their words' chance alone"
  python bench/strategies.py "$WORK/$corpus-one-annotator.jsonl=one annotator" \
    "$WORK/$corpus-second-newest.jsonl=newest" "$WORK/$corpus-second-agreement.jsonl=agreement" \
    "$WORK/$corpus-second-both.jsonl=both"
  python bench/strategies.py "$WORK/$corpus-al.jsonl"
done
