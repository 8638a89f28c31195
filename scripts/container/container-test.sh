#!/usr/bin/env bash
# Usage: scripts/container/container-test.sh        (or: make container-test)
# Build the Lambda container image and check it as a user would run it, on a machine with no
# Docker engine and no access to public.ecr.aws:
#   1. podman, with the docker CLI on its socket (podman-service.sh; apt installs it if missing)
#   2. the local stand-in for the AWS base image (build-base-image.sh; cached)
#   3. the SAM CLI in a pinned tool venv (install-sam.sh) and `sam validate --lint`
#   4. `docker build` of the unchanged Dockerfile, timed; the size it adds over the base image
#      is printed and must stay under MAX_ADDED_MB (default 250)
#   5. tests/container: `docker run -p 127.0.0.1:PORT:8080` with test.py (a local file and a URL
#      served on this host's loopback), and `sam local start-api` with POST /predict
# Containers, sam local and the podman service (if this script started it) are stopped and
# removed at the end; the images stay as the cache (the stand-in, and IMAGE for `sam local`).
# Environment: IMAGE (default skin-lesion-classifier:local, the template's default ImageUri),
# CONTEXT (the build context, default the repository), MAX_ADDED_MB. Needs `make setup` first.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
IMAGE="${IMAGE:-skin-lesion-classifier:local}"
CONTEXT="${CONTEXT:-.}"
MAX_ADDED_MB="${MAX_ADDED_MB:-250}"
PY=.venv/bin/python
[ -x "$PY" ] || { echo "container-test: no .venv; run make setup first" >&2; exit 1; }
started=$SECONDS

service=scripts/container/podman-service.sh
if bash "$service" status >/dev/null; then
  echo "container-test: using the podman service already running"
else
  bash "$service" start >/dev/null
  trap 'bash scripts/container/podman-service.sh stop' EXIT
fi
eval "$(bash "$service" env)"
echo "== podman $(podman --version | awk '{print $3}'), docker CLI on $DOCKER_HOST"

bash scripts/container/build-base-image.sh
base="$(awk 'toupper($1) == "FROM" { print $2; exit }' Dockerfile)"

sam="$(realpath "$(bash scripts/container/install-sam.sh)")"
export SAM_CLI_TELEMETRY=0
"$sam" validate --lint --region us-east-1 --template template.yaml

echo "== docker build $CONTEXT -> $IMAGE"
build_started=$SECONDS
docker build --pull=false --tag "$IMAGE" "$CONTEXT"
build_seconds=$((SECONDS - build_started))
base_bytes="$(docker image inspect --format '{{.Size}}' "$base")"
image_bytes="$(docker image inspect --format '{{.Size}}' "$IMAGE")"
added_mb=$(((image_bytes - base_bytes) / 1000000))
echo "== built in ${build_seconds} s; the image adds ${added_mb} MB over the base image" \
  "($((base_bytes / 1000000)) MB -> $((image_bytes / 1000000)) MB)"
if [ "$added_mb" -ge "$MAX_ADDED_MB" ]; then
  echo "container-test: the image adds ${added_mb} MB, over the ${MAX_ADDED_MB} MB budget" >&2
  exit 1
fi

CONTAINER_IMAGE="$IMAGE" SAM_CLI="$sam" "$PY" -m pytest tests/container -p no:cacheprovider
echo "== container test passed in $((SECONDS - started)) s"
