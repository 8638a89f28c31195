#!/usr/bin/env bash
# Usage: scripts/container/build-base-image.sh [--force]
# Build a local stand-in for the AWS Lambda Python base image named in the Dockerfile's FROM
# (public.ecr.aws/lambda/python:3.13) and tag it with that very name, so that the unchanged
# Dockerfile builds with `docker build --pull=never`. It exists only because CI cannot pull
# from public.ecr.aws; with registry access, use AWS's image and not this.
#
# What it holds, as AWS's image does: Python of the same minor version at /var/lang (a venv
# over Debian trixie's python3.13), the runtime client awslambdaric (locked in Pipfile.lock,
# hash-checked) in /var/runtime, the Runtime Interface Emulator (scripts/install-rie.sh), an
# entrypoint that runs the emulator when AWS_LAMBDA_RUNTIME_API is unset, LAMBDA_TASK_ROOT=
# /var/task as working directory, and this host's CA bundle (TLS is intercepted here).
# The rootfs comes from Debian's apt repository with mmdebstrap and becomes an image with
# `podman import`. Cached: skipped when an image built from the same recipe exists (--force
# rebuilds). Needs root (or sudo), podman and mmdebstrap (scripts/container/podman-service.sh start).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
force="${1:-}"

from_ref="$(awk 'toupper($1) == "FROM" { print $2; exit }' Dockerfile)"
python_version="${from_ref##*:}"
case "$python_version" in
  3.13) suite=trixie ;;
  *) echo "build-base-image: no Debian suite ships Python $python_version (FROM $from_ref)" >&2; exit 1 ;;
esac
python="python$python_version"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
runtime_packages=(awslambdaric simplejson snapshot-restore-py)
label="skinlesion.stand-in.recipe"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 scripts/container/lock_requirements.py Pipfile.lock --category develop "${runtime_packages[@]}" \
  >"$work/runtime-requirements.txt"

# The recipe: this script, the entrypoint, the runtime client's pins, the emulator's pin, the CA bundle.
recipe="$(cat "$0" scripts/container/lambda-entrypoint.sh "$work/runtime-requirements.txt" \
  scripts/install-rie.sh "$ca_bundle" | sha256sum | cut -c1-16)"
if [ "$force" != "--force" ] &&
  [ "$(podman image inspect --format "{{ index .Labels \"$label\" }}" "$from_ref" 2>/dev/null)" = "$recipe" ]; then
  echo "build-base-image: $from_ref (stand-in, recipe $recipe) is up to date"
  exit 0
fi
if podman image exists "$from_ref" &&
  [ -z "$(podman image inspect --format "{{ index .Labels \"$label\" }}" "$from_ref")" ]; then
  echo "build-base-image: $from_ref exists and is not our stand-in (AWS's own image?); leaving it" >&2
  exit 1
fi

echo "build-base-image: building the stand-in for $from_ref (Debian $suite, $python)"
bash scripts/install-rie.sh .tools
mkdir -p "$work/wheels"
# The runtime client's wheels for the image's Python, fetched here (the rootfs has no pip index).
python3 -m pip download --quiet --require-hashes --only-binary=:all: --dest "$work/wheels" \
  --python-version "$python_version" --implementation cp --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform any \
  -r "$work/runtime-requirements.txt"
cp "$work/runtime-requirements.txt" "$work/wheels/requirements.txt"

mmdebstrap --variant=minbase --include="$python,$python-venv" \
  --customize-hook="mkdir -p \"\$1/etc/ssl/certs\" && cp '$ca_bundle' \"\$1/etc/ssl/certs/ca-certificates.crt\"" \
  --customize-hook="chroot \"\$1\" $python -m venv /var/lang" \
  --customize-hook="cp -r '$work/wheels' \"\$1/tmp/wheels\"" \
  --customize-hook="chroot \"\$1\" /var/lang/bin/pip install --quiet --no-index --no-cache-dir --require-hashes --find-links /tmp/wheels --target /var/runtime -r /tmp/wheels/requirements.txt" \
  --customize-hook="rm -rf \"\$1/tmp/wheels\" && mkdir -p \"\$1/var/task\"" \
  --customize-hook="install -m 0755 .tools/aws-lambda-rie \"\$1/usr/local/bin/aws-lambda-rie\"" \
  --customize-hook="install -m 0755 scripts/container/lambda-entrypoint.sh \"\$1/lambda-entrypoint.sh\"" \
  "$suite" "$work/rootfs.tar" "$mirror"

podman import \
  --change "ENV LANG=C.UTF-8" \
  --change "ENV TZ=:/etc/localtime" \
  --change "ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin" \
  --change "ENV LAMBDA_TASK_ROOT=/var/task" \
  --change "ENV LAMBDA_RUNTIME_DIR=/var/runtime" \
  --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
  --change "WORKDIR /var/task" \
  --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
  --change "LABEL $label=$recipe" \
  "$work/rootfs.tar" "$from_ref" >/dev/null
echo "build-base-image: tagged $from_ref (stand-in, recipe $recipe, $(podman image inspect --format '{{.Size}}' "$from_ref") bytes)"
