#!/usr/bin/env bash
# Run the whole test suite (slow end-to-end tests included) in the project's own venv.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
# The browser tests drive Label Studio's editor in Debian's chromium through its chromium-driver
# (no browser is downloaded); the emoji font makes their screenshots readable. qemu-user runs ONNX
# Runtime as a CPU without AVX-512 or VNNI would (test_fastpath). As root, install them.
if ! { command -v chromium && command -v chromedriver && command -v qemu-x86_64; } >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    packages="chromium chromium-driver fonts-noto-color-emoji qemu-user"
    apt-get install -y -qq $packages >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq $packages >/dev/null; } \
      || echo "warning: could not install $packages; the browser and cross-CPU tests will fail" >&2
  else
    echo "warning: the browser tests need chromium and chromium-driver, the cross-CPU test qemu-user" \
      "(apt-get install chromium chromium-driver qemu-user)" >&2
  fi
fi
# The end-to-end tests drive a real Label Studio from its own venv (.cache/lsvenv, or $LS_VENV).
# Installing it is set-up, like the project's venv: done here, once, not inside a test's clock.
.venv/bin/python -c 'from backend.lsdemo import ensure_venv; from tests.labelstudio import LS_VENV; ensure_venv(LS_VENV)'
exec .venv/bin/python -m pytest "$@"
