#!/bin/sh
# Usage (as the stand-in image's ENTRYPOINT; the image's CMD gives the handler):
#   /lambda-entrypoint.sh MODULE.FUNCTION
# Entrypoint of the local stand-in for the AWS Lambda Python base image. Inside Lambda (and
# under `sam local`, whose own emulator sets AWS_LAMBDA_RUNTIME_API) it starts the runtime
# client; anywhere else it starts the client under the Runtime Interface Emulator, which serves
# the invoke API on port 8080, as the AWS image does.
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: $0 MODULE.FUNCTION (the handler, normally the image's CMD)" >&2
  exit 2
fi
export _HANDLER="$1"
export PYTHONPATH="${LAMBDA_RUNTIME_DIR}${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec /usr/local/bin/aws-lambda-rie /var/lang/bin/python -m awslambdaric "$_HANDLER"
fi
exec /var/lang/bin/python -m awslambdaric "$_HANDLER"
