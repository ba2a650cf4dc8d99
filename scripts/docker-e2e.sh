#!/usr/bin/env bash
# The compose stack end to end, as a user on AWS runs it: starts Docker's engine if none runs,
# builds the images (scripts/docker-images.sh: cached layers, seconds, once CI's set-up has built
# them), brings up Redis, two backend replicas behind nginx, two CPU workers and Label Studio,
# drives two projects' loops through LS and the faults (scripts/docker_e2e.py), tears everything
# down and prints a one-line summary last. Exits non-zero on any failed step.
#   bash scripts/docker-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
PROJECT=nere2e$$
WORK=$(mktemp -d /tmp/ner-docker-e2e.XXXXXX)
BACKEND_PORT=${BACKEND_PORT:-19090}
LABEL_STUDIO_PORT=${LABEL_STUDIO_PORT:-18080}
summary() { echo "docker-e2e: $1 ($(( $(date +%s) - started )) s)"; }
. scripts/docker-engine.sh
DOCKERD_LOG=$WORK/dockerd.log
start_engine
trap stop_engine EXIT

t0=$(date +%s)
bash scripts/docker-images.sh  # seconds when CI's set-up has built them
build_s=$(( $(date +%s) - t0 ))

bash scripts/compose-env.sh "$WORK/.env" >/dev/null
set -a; . "$WORK/.env"; set +a
export BACKEND_PORT LABEL_STUDIO_PORT
export ADAPT_STEPS=${ADAPT_STEPS:-3}  # the plumbing, not the 3-minute adaptation a real project gets
export TRAIN_THREADS=${TRAIN_THREADS:-1}  # two workers on this machine's 2 cores: one core each
COMPOSE="docker-compose -p $PROJECT --project-directory $PWD -f docker-compose.yml -f docker/compose.offline.yml --env-file $WORK/.env --profile cpu --profile labelstudio"
UP_ARGS="--scale backend=2 --scale worker-cpu=2 redis backend webhooks proxy worker-cpu label-studio"
PASSED=
teardown() {  # the logs stay in $WORK when a step failed; a run that passed leaves nothing
  [ -n "$PASSED" ] || $COMPOSE logs --no-color >"$WORK/compose.log" 2>&1 || true
  $COMPOSE down -v >/dev/null 2>&1 || true
  [ -z "$PASSED" ] || rm -rf "$WORK"
}
trap 'teardown; stop_engine' EXIT
t0=$(date +%s)
$COMPOSE up -d --no-build $UP_ARGS
until [ "$(docker inspect -f '{{.State.Health.Status}}' $($COMPOSE ps -q backend) 2>/dev/null | sort -u)" = healthy ]; do
  [ $(( $(date +%s) - t0 )) -lt 300 ] || { summary "FAILED: the backend replicas did not become healthy (logs: $WORK/compose.log)"; exit 1; }
  sleep 1
done
up_s=$(( $(date +%s) - t0 ))
if figures=$(.venv/bin/python scripts/docker_e2e.py --compose "$COMPOSE" --up-args "$UP_ARGS" \
      --backend "http://127.0.0.1:$BACKEND_PORT" --label-studio "http://127.0.0.1:$LABEL_STUDIO_PORT" \
      --token "$LABEL_STUDIO_API_KEY" 2>"$WORK/checks.log"); then
  echo "figures: {\"images_built_s\": $build_s, \"up_to_healthy_replicas_s\": $up_s, ${figures#\{}"
  PASSED=1
  summary "passed: two projects on two workers through Label Studio, a worker killed mid-training, down/up, replica killed under load"
else
  echo "figures so far: $figures"
  tail -5 "$WORK/checks.log"
  summary "FAILED: $(grep '^FAILED at' "$WORK/checks.log" | tail -1) (logs: $WORK/compose.log)"
  exit 1
fi
