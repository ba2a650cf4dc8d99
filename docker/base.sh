#!/usr/bin/env bash
# Build the base image `ner-base:bookworm` (Debian 12, Python 3.11) from Debian's archive, for
# machines that reach Debian and PyPI but no image registry. The host's own CA certificates (those
# under /usr/local/share/ca-certificates, e.g. an egress proxy's) are trusted inside it too, so
# that pip reaches PyPI from a build on the host network. Returns at once when the image exists.
#   bash docker/base.sh [image-name]
set -euo pipefail
NAME=${1:-ner-base:bookworm}
if docker image inspect "$NAME" >/dev/null 2>&1; then
  echo "base image $NAME: present"
  exit 0
fi
command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
ROOT=$(mktemp -d /tmp/ner-base.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOT" >/dev/null
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  chroot "$ROOT" update-ca-certificates >/dev/null
fi
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
tar -C "$ROOT" -c . | docker import --change 'ENV LANG=C.UTF-8' - "$NAME" >/dev/null
echo "base image $NAME: built ($(docker image inspect -f '{{.Size}}' "$NAME" | awk '{printf "%.0f MB", $1/1e6}'))"
