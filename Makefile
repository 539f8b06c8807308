# aml.kserve — one entry point for set-up, tests and the local environment.
#   make demo      bring up the embedded Kubernetes + GitLab and deploy a sample model
#   make test      unit + integration tests, ansible-test sanity, ansible-lint (what CI runs)
#   make env-up / env-down   the embedded environment, for use by hand
#   make docs      the HTML docsite (antsibull-docs + Sphinx) in .build/docs/site/build/html
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
BUILD := $(abspath .build)
COLLECTION_LINK := $(BUILD)/ansible_collections/aml/kserve
# Outside any git work tree: ansible-test lists the files of an enclosing repository, which ignores .build/.
SANITY_ROOT := $(or $(TMPDIR),/tmp)/aml-kserve-sanity/ansible_collections
KUBERNETES_CORE := $(abspath $(VENV))/lib/python3.11/site-packages/ansible_collections/kubernetes/core

# CI and `make test` validate against KServe's real CRDs when they sit beside the checkout.
KSERVE_CRDS_DIR ?= $(if $(wildcard ../shared/kserve-crds/*.yaml),$(abspath ../shared/kserve-crds),)
export KSERVE_CRDS_DIR
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)
export ANSIBLE_HOME := $(BUILD)/ansible-home
export PATH := $(BIN):$(PATH)

PYTEST_ARGS ?=

.PHONY: help venv collection apiserver test unit integration sanity lint docs-lint docs env-up env-down demo build changelog clean

help:
	@sed -n 's/^#   //p' Makefile

$(VENV)/.installed: requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# The checkout, importable as aml.kserve (a link, so edits show at once).
collection: venv
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn $(CURDIR) $(COLLECTION_LINK)

# kube-apiserver v1.20.2 (built once from Debian's source and cached) and Debian's etcd.
apiserver:
	bash tests/harness/build_apiserver.sh >/dev/null

test: collection apiserver
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory sanity
	$(BIN)/python -m pytest -c tests/pytest.ini tests/unit tests/integration $(PYTEST_ARGS)

unit: collection
	$(BIN)/python -m pytest -c tests/pytest.ini tests/unit $(PYTEST_ARGS)

integration: collection apiserver
	$(BIN)/python -m pytest -c tests/pytest.ini tests/integration $(PYTEST_ARGS)

# ansible-test needs the collection at ansible_collections/aml/kserve for real (not a link),
# with its dependency beside it.
sanity: collection
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)/aml/kserve $(SANITY_ROOT)/kubernetes
	git ls-files -co --exclude-standard | while read -r f; do [ ! -e "$$f" ] || echo "$$f"; done \
	  | tar -cf - -T - | tar -xf - -C $(SANITY_ROOT)/aml/kserve
	ln -sfn $(KUBERNETES_CORE) $(SANITY_ROOT)/kubernetes/core
	mkdir -p $(HOME)/.ansible/test/cache
	for v in 24.2 25.0.1 25.1.1; do f=$(HOME)/.ansible/test/cache/get_pip_$${v//./_}.py; \
	  [ -s $$f ] || cp tests/harness/get_pip_bootstrap.py $$f; done
	cd $(SANITY_ROOT)/aml/kserve && $(BIN)/ansible-test sanity --venv --python 3.11 --color no

lint: collection
	$(BIN)/ansible-lint --profile production --offline
	$(MAKE) --no-print-directory docs-lint

# The ceiling keeps git from taking a .venv inside a checkout for part of it: antsibull-docs copies a collection
# found in a git work tree (kubernetes.core in .venv) as its tracked files only, that is none.
docs-lint: collection
	GIT_CEILING_DIRECTORIES=$(realpath $(VENV)) $(BIN)/antsibull-docs lint-collection-docs --plugin-docs .

# The docsite: every module, filter and role entry point, and README.md as the guide. It is built from a copy
# without the private filters (plugins/filter/_*.py, the role's own plumbing, not an API). Offline, the references into docs.ansible.com (intersphinx) cannot resolve, so
# unresolved references are not warnings here; docs-lint checks the collection's own.
DOCS := $(BUILD)/docs
DOCS_COLLECTION := $(DOCS)/collections/ansible_collections/aml/kserve
DOCS_INTERNAL := plugins/filter/_*.py plugins/filter/_*.yml plugins/modules/_*.py plugins/action/_*.py
docs: collection
	rm -rf $(DOCS) && mkdir -p $(DOCS_COLLECTION) && mkdir -m 700 $(DOCS)/site
	git ls-files -co --exclude-standard | while read -r f; do [ ! -e "$$f" ] || echo "$$f"; done \
	  | tar -cf - -T - | tar -xf - -C $(DOCS_COLLECTION)
	cd $(DOCS_COLLECTION) && rm -f $(DOCS_INTERNAL)
	export ANSIBLE_COLLECTIONS_PATH=$(DOCS)/collections; cd $(DOCS)/site \
	  && $(BIN)/antsibull-docs sphinx-init --use-current --fail-on-error --dest-dir . \
	       --index-rst-source $(CURDIR)/docs/docsite/index.rst --project aml.kserve --title aml.kserve \
	       --html-short-title aml.kserve aml.kserve >/dev/null \
	  && mkdir -p rst && chmod og-w rst \
	  && $(BIN)/antsibull-docs --config-file antsibull-docs.cfg collection --use-current --fail-on-error \
	       --dest-dir rst aml.kserve \
	  && cp $(CURDIR)/README.md rst/guide.md \
	  && printf '%s\n' "extensions.append('myst_parser')" "intersphinx_mapping = {}" "suppress_warnings = ['ref.ref']" >> conf.py \
	  && $(BIN)/sphinx-build -q -b html rst build/html -c . -W --keep-going
	@echo "Docsite: $(DOCS)/site/build/html/index.html"

build: collection
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)

changelog: venv
	$(BIN)/antsibull-changelog lint

env-up: collection apiserver
	$(BIN)/python -m tests.harness.env up

env-down: venv
	$(BIN)/python -m tests.harness.env down

demo: collection apiserver
	$(BIN)/python -m tests.harness.env demo

clean:
	rm -rf $(BUILD) .pytest_cache
