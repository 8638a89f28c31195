# The Lambda container image: serving code, the locked serving packages (hash-checked), the model
# and its card. No TensorFlow, no training code, no tests (.dockerignore lets only these in).
#   docker build -t skin-lesion-classifier .
#   docker run --rm -p 127.0.0.1:8080:8080 skin-lesion-classifier
#   python test.py lesion.jpg      # http://localhost:8080/2015-03-31/functions/function/invocations
# Python 3.13 on Amazon Linux 2023: ai-edge-litert needs glibc >= 2.27 (Amazon Linux 2 has 2.26).
# CI cannot pull this base image and builds this file unchanged on a local stand-in instead:
# scripts/container/build-base-image.sh, docs/deployment.md.
FROM public.ecr.aws/lambda/python:3.13

# Dependencies first, so that a change to the code or the model does not reinstall them.
# The lock's "default" section (the Pipfile's [packages]) becomes a requirements file with the
# lock's own hashes; wheels only, nothing is compiled.
COPY Pipfile.lock scripts/container/lock_requirements.py /tmp/build/
RUN python /tmp/build/lock_requirements.py /tmp/build/Pipfile.lock > /tmp/build/requirements.txt \
    && pip install --no-cache-dir --require-hashes --only-binary=:all: -r /tmp/build/requirements.txt \
    && rm -rf /tmp/build

# The model changes less often than the code. MODEL_PATH's default is this file.
COPY models/skin-lesion-class_v3.tflite models/skin-lesion-class_v3.json ${LAMBDA_TASK_ROOT}/models/

COPY skinlesion/__init__.py skinlesion/classes.py skinlesion/paths.py skinlesion/contract.py \
     skinlesion/model_card.py skinlesion/metadata.py skinlesion/temperature.py skinlesion/inference.py \
     ${LAMBDA_TASK_ROOT}/skinlesion/
COPY skinlesion/image/ ${LAMBDA_TASK_ROOT}/skinlesion/image/
COPY skinlesion/serving/ ${LAMBDA_TASK_ROOT}/skinlesion/serving/
COPY lambda_function.py ${LAMBDA_TASK_ROOT}/
# Lambda's file system is read-only: compile now, or every cold start compiles again.
RUN python -m compileall -q ${LAMBDA_TASK_ROOT}

CMD ["lambda_function.lambda_handler"]
