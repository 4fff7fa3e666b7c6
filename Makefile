# The README's two commands: `make demo` (the main job) and `make test` (the suite). Both install first.
VENV ?= .venv
WORKDIR ?= runs/demo
PROFILE ?= demo
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml scripts/install.sh
	VENV=$(VENV) bash scripts/install.sh dev
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/relevance-distill run --profile $(PROFILE) --workdir $(WORKDIR)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
