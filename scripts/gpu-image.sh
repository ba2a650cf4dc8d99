#!/usr/bin/env bash
# Build the GPU image (torch's CUDA build, which carries its own CUDA libraries), start its worker
# and a backend with no GPU visible, and check that the worker says it falls back to the CPU and
# trains one small version from the example webhooks. Too large for every CI run (several GB).
#   bash scripts/gpu-image.sh            # TORCH_INDEX=... to use PyTorch's CUDA index
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=ner-gpu-check$$
TORCH_INDEX=${TORCH_INDEX:-https://pypi.org/simple}  # PyPI's Linux torch is the CUDA build
docker info >/dev/null 2>&1 || { echo "start Docker's engine first (scripts/docker-e2e.sh does)"; exit 1; }
bash docker/base.sh ner-base:bookworm
t0=$(date +%s)
# the build stage tagged too: scripts/docker-images.sh removes untagged images of ours, and this
# one holds the cached CUDA torch
CUDA_ARGS=(--build-arg PYTHON_IMAGE=ner-base:bookworm --build-arg "TORCH_INDEX=$TORCH_INDEX" .)
docker build -q --network host --target build -t ner-backend:cuda-build "${CUDA_ARGS[@]}" >/dev/null
docker build -q --network host --target runtime -t ner-backend:cuda "${CUDA_ARGS[@]}" >/dev/null
docker build -q --network host -t ner-redis:local -f docker/redis.Dockerfile docker >/dev/null
echo "ner-backend:cuda built in $(( $(date +%s) - t0 )) s: $(docker image inspect -f '{{.Size}}' ner-backend:cuda | awk '{printf "%.2f GB", $1/1e9}')"
docker run --rm ner-backend:cuda python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

PASSWORD=$(python3 -c "import secrets; print(secrets.token_hex(16))")
cleanup() { docker rm -f "$NAME-redis" "$NAME-worker" "$NAME-backend" >/dev/null 2>&1 || true;
            docker network rm "$NAME" >/dev/null 2>&1 || true; docker volume rm "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
docker network create "$NAME" >/dev/null
docker run -d --name "$NAME-redis" --network "$NAME" --network-alias redis -e "P=$PASSWORD" ner-redis:local \
  sh -c 'printf "requirepass %s\n" "$P" | exec redis-server -' >/dev/null
ENV=(-e "REDIS_URL=redis://:$PASSWORD@redis:6379/0" -e MODEL_DIR=/data/models -v "$NAME:/data")
docker run -d --name "$NAME-worker" --network "$NAME" "${ENV[@]}" ner-backend:cuda ner-backend worker >/dev/null
docker run -d --name "$NAME-backend" --network "$NAME" -p 127.0.0.1::9090 "${ENV[@]}" ner-backend:cuda \
  ner-backend serve --host 0.0.0.0 --port 9090 >/dev/null
URL=http://$(docker port "$NAME-backend" 9090 | head -1)
for _ in $(seq 120); do curl -sf "$URL/health" >/dev/null && break; sleep 1; done
until docker logs "$NAME-worker" 2>&1 | grep -q "training"; do sleep 1; done
echo "worker: $(docker logs "$NAME-worker" 2>&1 | grep -m1 -o 'no GPU visible.*\|training on the .*')"
while read -r event; do curl -sf -X POST "$URL/webhook" -H 'Content-Type: application/json' -d "$event" >/dev/null; done \
  < examples/webhooks.jsonl
t0=$(date +%s)
until curl -s "$URL/projects/1/trainings" | grep -q '"current": *"v1-'; do
  [ $(( $(date +%s) - t0 )) -lt 900 ] || { docker logs --tail 30 "$NAME-worker"; echo "gpu-image: FAILED: no version"; exit 1; }
  sleep 3
done
echo "gpu-image: passed: the CUDA image trained $(curl -s "$URL/projects/1/trainings" | python3 -c 'import json,sys; print(json.load(sys.stdin)["current"])') on the CPU in $(( $(date +%s) - t0 )) s"
