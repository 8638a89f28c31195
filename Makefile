# Everything runs from the project's own virtual environment (.venv, made by pipenv).
PYTHON_BOOT ?= python3
PIPENV_VERSION := 2026.10.3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
PAGE_PORT ?= 8000
SHARED_DATA ?= ../shared/data
# A full-size HAM10000 melanoma when the data is beside the repo, otherwise the seed's picture.
IMAGE ?= $(or $(wildcard $(SHARED_DATA)/ham10000-fullres/images/ISIC_0024310.jpg),https://upload.wikimedia.org/wikipedia/commons/6/6c/Melanoma.jpg)

export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1

.PHONY: setup tools serve demo test iac-check lint format bench-serving notebooks clean

## setup: the locked environment (serving + training + dev) in .venv, and the Lambda emulator
setup: $(VENV)/.synced tools

$(VENV)/.synced: Pipfile.lock
	$(PYTHON_BOOT) -m pipenv --version >/dev/null 2>&1 || $(PYTHON_BOOT) -m pip install --quiet "pipenv==$(PIPENV_VERSION)"
	$(PYTHON_BOOT) -m pipenv sync --categories "packages training dev-packages bench"
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

## tools: the AWS Lambda Runtime Interface Emulator, pinned and sha256-checked, in .tools/
tools: $(VENV)/.synced
	PYTHON=$(PY) bash scripts/install-rie.sh .tools

## serve: the real handler under the Lambda emulator (invoke API on $(PORT)) and the clinic page at http://localhost:$(PAGE_PORT)/
serve: setup
	$(PY) -m devtools.lambda_emulator --port $(PORT) serve --page-port $(PAGE_PORT)

## demo: set up, start the local endpoint, classify IMAGE with test.py, stop
demo: setup
	$(PY) -m devtools.lambda_emulator --port $(PORT) demo "$(IMAGE)"

## test: lint, the template checks, then every test (unit, end to end through the emulator, the page in Chromium, shipped-model accuracy)
test: setup lint iac-check
	$(PY) -m pytest

## iac-check: template.yaml through sam validate --lint, cfn-lint and checkov (each finding fixed, or skipped in the template with its reason)
iac-check:
	SAM_CLI_TELEMETRY=0 "$$(bash scripts/container/install-sam.sh)" validate --lint --region us-east-1 --template template.yaml
	"$$(bash scripts/install-iac-tools.sh)/cfn-lint" template.yaml
	"$$(bash scripts/install-iac-tools.sh)/checkov" --file template.yaml --framework cloudformation --quiet --compact --skip-download

lint: $(VENV)/.synced
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.synced
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## bench-serving: warm latency, cold start and peak RSS of the serving path
bench-serving: setup
	$(PY) -m bench.serving

.PHONY: bench
## bench: serving variants side by side (latency, batches, cold start, memory, size, accuracy) -> bench/results/
bench: setup
	$(PY) -m bench.compare

# glibc's allocator maps and unmaps the network's large buffers on every step; on these machines
# that made a fine-tuning step 1.8x slower (2.33 s against 1.27 s per batch: docs/training.md).
TCMALLOC ?= $(wildcard /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4)
.PHONY: train
## train: train.py with tcmalloc where installed (apt-get install libtcmalloc-minimal4); ARGS="--out-dir runs/x ..."
train: setup
	LD_PRELOAD=$(TCMALLOC) $(PY) train.py $(ARGS)

## notebooks: execute both notebooks (real data, shipped model, local endpoint); outputs written back
notebooks: setup
	$(PY) scripts/run_notebooks.py --in-place

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache

# ---- container and deployment (docs/deployment.md) ----------------------------------
.PHONY: container-test sam-validate deploy rollback destroy

## container-test: build the Lambda image (podman, local stand-in base) and check it with docker run, test.py and sam local
container-test: setup
	bash scripts/container/container-test.sh

## sam-validate: sam validate --lint on template.yaml (the SAM CLI in its own pinned venv, .tools/sam)
sam-validate:
	SAM_CLI_TELEMETRY=0 "$$(bash scripts/container/install-sam.sh)" validate --lint --region us-east-1 --template template.yaml

## deploy: ECR repository, image tagged with the commit, push, sam deploy (the alias live shifted to it gradually); prints the endpoint and the model live serves (AWS credentials as usual)
deploy: $(VENV)/.synced
	$(PY) scripts/deploy.py

## rollback: stop a release in progress, or point the alias live back to the version it served before
rollback: $(VENV)/.synced
	$(PY) scripts/deploy.py --rollback

## destroy: delete the deployed stack (function, API, logs) and the ECR repository
destroy: $(VENV)/.synced
	$(PY) scripts/deploy.py --destroy
