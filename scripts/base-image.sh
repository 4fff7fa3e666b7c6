#!/usr/bin/env bash
# Make a local Debian bookworm base image with Python 3.11 (python, venv, CA certificates), for machines that
# cannot pull python:3.11-slim (no registry). Usage: scripts/base-image.sh [NAME]  (needs root, debootstrap, docker)
set -euo pipefail
NAME="${1:-relevance-distill/base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$(mktemp -d /var/tmp/relevance-distill-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin
tar -C "$ROOTFS" -c . | docker import --change 'CMD ["/bin/bash"]' - "$NAME" >/dev/null
echo "base image $NAME: $(chroot "$ROOTFS" python3 --version)"
