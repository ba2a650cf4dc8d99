#!/usr/bin/env bash
# The compose stack end to end, as a user on AWS runs it: starts Docker's engine if none runs,
# builds the images (from Debian's archive and PyPI where no image registry is reachable:
# docker/base.sh, docker/compose.offline.yml), brings up Redis, two backend replicas behind nginx,
# two CPU workers and Label Studio, drives two projects' loops through LS and the faults (scripts/docker_e2e.py),
# tears everything down and prints a one-line summary last. Exits non-zero on any failed step.
#   bash scripts/docker-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
PROJECT=nere2e$$
WORK=$(mktemp -d /tmp/ner-docker-e2e.XXXXXX)
BACKEND_PORT=${BACKEND_PORT:-19090}
LABEL_STUDIO_PORT=${LABEL_STUDIO_PORT:-18080}
WHEELS_PID=
stop_wheels() {  # the wheel server goes with the script, whichever step failed
  [ -n "$WHEELS_PID" ] && kill "$WHEELS_PID" 2>/dev/null
  WHEELS_PID=
}
summary() { echo "docker-e2e: $1 ($(( $(date +%s) - started )) s)"; }

DOCKERD_PID=
stop_dockerd() {  # an engine this script started goes with it: nothing is left running
  [ -z "$DOCKERD_PID" ] && return 0
  kill "$DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || return 0; sleep 1; done
}
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || apt-get install -y -q docker.io >/dev/null
  dockerd >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
command -v docker-compose >/dev/null || apt-get install -y -q docker-compose >/dev/null

trap 'stop_wheels; stop_dockerd' EXIT

# Images. The base and the substitutes are built only where the registries are out of reach;
# torch's CPU wheel comes from pip's local wheelhouse when there is one (`pip config list`).
bash docker/base.sh ner-base:bookworm
TORCH_ARGS=()
WHEELHOUSE=$(pip config list 2>/dev/null | sed -n "s/^global.find-links='\(.*\)'$/\1/p" | head -1)
if [ -n "$WHEELHOUSE" ] && compgen -G "$WHEELHOUSE/torch-*+cpu-*.whl" >/dev/null; then
  WHEELS_PORT=${WHEELS_PORT:-18765}  # fixed: a build argument that changes would rebuild every layer after torch
  python3 -m http.server --bind 127.0.0.1 "$WHEELS_PORT" --directory "$WHEELHOUSE" >/dev/null 2>&1 &
  WHEELS_PID=$!
  TORCH_WHEEL=$(basename "$(ls "$WHEELHOUSE"/torch-*+cpu-*.whl | head -1)")
  TORCH_VERSION=$(echo "$TORCH_WHEEL" | cut -d- -f2)
  TORCH_ARGS=(--build-arg TORCH_INDEX=https://pypi.org/simple --build-arg "TORCH_FIND_LINKS=http://127.0.0.1:$WHEELS_PORT/"
              --build-arg "TORCH_VERSION=$TORCH_VERSION")
fi
build() { docker build -q --network host "$@" >/dev/null; }
t0=$(date +%s)
build -t ner-backend:latest --build-arg PYTHON_IMAGE=ner-base:bookworm "${TORCH_ARGS[@]}" .
build -t ner-redis:local -f docker/redis.Dockerfile docker
build -t ner-proxy:local -f docker/proxy.Dockerfile docker
build -t ner-labelstudio:local -f docker/labelstudio.Dockerfile docker
stop_wheels
build_s=$(( $(date +%s) - t0 ))
echo "images built in ${build_s} s: ner-backend:latest $(docker image inspect -f '{{.Size}}' ner-backend:latest | awk '{printf "%.2f GB", $1/1e9}')"

bash scripts/compose-env.sh "$WORK/.env" >/dev/null
set -a; . "$WORK/.env"; set +a
export BACKEND_PORT LABEL_STUDIO_PORT
export ADAPT_STEPS=${ADAPT_STEPS:-3}  # the plumbing, not the 3-minute adaptation a real project gets
export TRAIN_THREADS=${TRAIN_THREADS:-1}  # two workers on this machine's 2 cores: one core each
COMPOSE="docker-compose -p $PROJECT --project-directory $PWD -f docker-compose.yml -f docker/compose.offline.yml --env-file $WORK/.env --profile cpu --profile labelstudio"
UP_ARGS="--scale backend=2 --scale worker-cpu=2 redis backend webhooks proxy worker-cpu label-studio"
teardown() {
  $COMPOSE logs --no-color >"$WORK/compose.log" 2>&1 || true
  $COMPOSE down -v >/dev/null 2>&1 || true
}
trap 'teardown; stop_wheels; stop_dockerd' EXIT
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
  summary "passed: two projects on two workers through Label Studio, a worker killed mid-training, down/up, replica killed under load"
else
  echo "figures so far: $figures"
  tail -5 "$WORK/checks.log"
  summary "FAILED: $(grep '^FAILED at' "$WORK/checks.log" | tail -1) (logs: $WORK/compose.log)"
  exit 1
fi
