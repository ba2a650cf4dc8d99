#!/usr/bin/env bash
# Run the whole test suite (slow end-to-end tests included) in the project's own venv.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
# The browser tests drive Label Studio's editor in Debian's chromium through its chromium-driver
# (no browser is downloaded); the emoji font makes their screenshots readable. As root, install them.
if ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    packages="chromium chromium-driver fonts-noto-color-emoji"
    apt-get install -y -qq $packages >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq $packages >/dev/null; } \
      || echo "warning: could not install $packages; the browser tests will fail" >&2
  else
    echo "warning: the browser tests need chromium and chromium-driver (apt-get install chromium chromium-driver)" >&2
  fi
fi
# The end-to-end tests drive a real Label Studio from its own venv (.cache/lsvenv, or $LS_VENV).
# Installing it is set-up, like the project's venv: done here, once, not inside a test's clock.
.venv/bin/python -c 'from backend.lsdemo import ensure_venv; from tests.labelstudio import LS_VENV; ensure_venv(LS_VENV)'
exec .venv/bin/python -m pytest "$@"
