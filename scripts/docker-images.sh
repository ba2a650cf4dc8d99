#!/usr/bin/env bash
# Build the compose stack's images: the backend (one image for the replicas and the workers), on a
# Debian base built by docker/base.sh, and the substitutes docker/compose.offline.yml names for the
# registry images these machines cannot pull (Redis, nginx and Label Studio from Debian's archive
# and PyPI). All are built every time; cached layers make that seconds. CI runs it in its set-up,
# with the other installers; scripts/docker-e2e.sh runs it again before it starts the stack.
# Starts Docker's engine for the build when none runs, and stops it after.
#   bash scripts/docker-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/docker-engine.sh
WHEELS_PID=
trap '[ -n "$WHEELS_PID" ] && kill "$WHEELS_PID" 2>/dev/null; stop_engine' EXIT
start_engine

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
# The build stage is tagged too, so that the clean-up below keeps it: it is the next build's cache.
BACKEND_ARGS=(--build-arg PYTHON_IMAGE=ner-base:bookworm "${TORCH_ARGS[@]}" .)
build --target build -t ner-backend:build "${BACKEND_ARGS[@]}"
build --target runtime -t ner-backend:latest "${BACKEND_ARGS[@]}"
build -t ner-redis:local -f docker/redis.Dockerfile docker
build -t ner-proxy:local -f docker/proxy.Dockerfile docker
build -t ner-labelstudio:local -f docker/labelstudio.Dockerfile .
# Each rebuild leaves the images it replaced untagged; left there, they filled a 250 GB disk within a
# few days of development. Only untagged images with our label go, never anyone else's.
docker image prune -f --filter label=org.ner-backend.image >/dev/null
echo "images built in $(( $(date +%s) - t0 )) s: ner-backend:latest $(docker image inspect -f '{{.Size}}' ner-backend:latest | awk '{printf "%.2f GB", $1/1e9}')"
