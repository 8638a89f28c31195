#!/usr/bin/env bash
# Usage: scripts/install-iac-tools.sh [VENV_DIR]
# Install the template checkers, pinned, into their own tool venv (default .tools/iac), apart
# from the project's locked environment: checkov pins many packages of its own. Idempotent;
# prints the venv's bin folder (cfn-lint and checkov are in it).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOV_VERSION=3.3.30
CFN_LINT_VERSION=1.58.0
venv="${1:-.tools/iac}"
PYTHON="${PYTHON:-python3}"

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
if [ -x "$venv/bin/checkov" ] && [ -x "$venv/bin/cfn-lint" ] \
  && "$venv/bin/python" -m pip show checkov 2>/dev/null | grep -qx "Version: $CHECKOV_VERSION" \
  && "$venv/bin/python" -m pip show cfn-lint 2>/dev/null | grep -qx "Version: $CFN_LINT_VERSION"; then
  echo "$venv/bin"
  exit 0
fi
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "checkov==$CHECKOV_VERSION" "cfn-lint==$CFN_LINT_VERSION" >&2
echo "$venv/bin"
