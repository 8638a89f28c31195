#!/usr/bin/env bash
# Usage: scripts/container/install-sam.sh [VENV_DIR]
# Install the AWS SAM CLI, pinned, into its own tool venv (default .tools/sam), apart from the
# project's locked environment: aws-sam-cli pins many packages of its own. Its dependencies are
# held to scripts/container/sam-constraints.txt. Idempotent; prints the path of `sam`.
set -euo pipefail
cd "$(dirname "$0")/../.."
SAM_VERSION=1.170.0  # the same release scripts/install-rie.sh takes the emulator from
venv="${1:-.tools/sam}"
PYTHON="${PYTHON:-python3}"

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
if [ -x "$venv/bin/sam" ] && [ "$("$venv/bin/sam" --version 2>/dev/null)" = "SAM CLI, version $SAM_VERSION" ]; then
  echo "$venv/bin/sam"
  exit 0
fi
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --constraint scripts/container/sam-constraints.txt "aws-sam-cli==$SAM_VERSION" >&2
echo "$venv/bin/sam"
