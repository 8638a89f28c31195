#!/usr/bin/env bash
# Install the AWS Lambda Runtime Interface Emulator (RIE) into .tools/ (or $1).
# The machines we build on reach PyPI but not GitHub releases; the RIE binary ships inside
# the aws-sam-cli wheel, so we take it from there. Pinned, and checked by sha256 twice:
# the wheel, then the binary.
set -euo pipefail

SAM_VERSION=1.170.0
WHEEL_SHA256=24ebaf5ecba38dc1758089968cb89ab61e124b84e92a344fc7a2771a47f4d0bf
case "$(uname -m)" in
  x86_64) ARCH=x86_64; RIE_SHA256=6b1e686e62ab2baf5759c412c4864276ef2a88b094fca53ec070637ccba9b9a5 ;;
  aarch64|arm64) ARCH=arm64; RIE_SHA256=ec2e5d09633d853834c008b1ef264bf834b258a94d551d2b2074966494b39a21 ;;
  *) echo "install-rie: no emulator build for $(uname -m)" >&2; exit 1 ;;
esac

dest="${1:-.tools}"
target="$dest/aws-lambda-rie"
PYTHON="${PYTHON:-python3}"

if [ -x "$target" ] && echo "$RIE_SHA256  $target" | sha256sum --check --status; then
  echo "install-rie: $target is already installed"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "aws-sam-cli==$SAM_VERSION"
wheel="$work/aws_sam_cli-$SAM_VERSION-py3-none-any.whl"
echo "$WHEEL_SHA256  $wheel" | sha256sum --check --quiet
"$PYTHON" - "$wheel" "$ARCH" "$work/rie" <<'PY'
import sys, zipfile
wheel, arch, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, open(out, "wb") as binary:
    binary.write(archive.read(f"samcli/local/rapid/aws-lambda-rie-{arch}"))
PY
echo "$RIE_SHA256  $work/rie" | sha256sum --check --quiet
mkdir -p "$dest"
install -m 0755 "$work/rie" "$target"
echo "install-rie: installed $target (from aws-sam-cli $SAM_VERSION, $ARCH)"
