# mdl.herd: every developer and CI command.  `make test` sets everything up from scratch.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT      := $(CURDIR)
VENV      := $(ROOT)/.venv
PY        := $(VENV)/bin/python
# ansible-test reads the files git tracks when the tree sits inside a git checkout: keep it outside.
BUILD     := $(or $(TMPDIR),/tmp)/mdl.herd-build-$(shell printf %s "$(ROOT)" | md5sum | cut -c1-8)
COLL_ROOT := $(BUILD)/ansible_collections
TREE      := $(COLL_ROOT)/mdl/herd
SITE      := $(VENV)/lib/python3.11/site-packages
PYTHON    ?= python3.11
# ansible-test keeps a cache in ~/.ansible; everything else stays in the checkout.
GET_PIP   := $(HOME)/.ansible/test/cache/get_pip_24_2.py
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)
export ANSIBLE_LOCAL_TEMP := $(ROOT)/.cache/ansible-tmp
export ANSIBLE_HOME := $(ROOT)/.cache/ansible-home
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Limit a suite to some targets or test files: make units TARGETS=tests/unit/plugins/modules/test_x.py
TARGETS   ?=

.PHONY: help venv tree sanity units compat-oldest compat-newest compat-all integration molecule lint scenarios reliability-doc sandbox sandbox-test test build build-check bench demo clean

help:
	@echo "make test          everything below, from scratch (venv, dependencies, sandbox), in two lanes side by side"
	@echo "make sanity        ansible-test sanity (all tests, no ignore files)"
	@echo "make units         ansible-test units"
	@echo "make compat-oldest sanity, units, the playbook's upgrade and no-op on a sandbox: ansible-core 2.17, amazon.aws 9.x"
	@echo "make compat-newest the same on the newest: ansible-core 2.21 (Python 3.12), amazon.aws 11"
	@echo "make compat-all    units on every ansible-core minor 2.17 to 2.21, each with its amazon.aws (not in make test)"
	@echo "make integration   ansible-test integration against a sandbox started for the run"
	@echo "make molecule      molecule scenarios against a sandbox"
	@echo "make lint          ansible-lint (production profile), changelog fragments, plugin docs (antsibull-docs)"
	@echo "make sandbox-test  the sandbox's own tests"
	@echo "make scenarios     ansible-playbook runs against the sandbox: re-runs, kills, refusals"
	@echo "make sandbox       start a simulated MDL fleet in the foreground (.sandbox/endpoints.json)"
	@echo "make build         build the collection tarball into dist/ (build-check: and install it)"
	@echo "make demo          upgrade a sandbox stack with the playbook, twice"
	@echo "make bench         benchmarks against the sandbox"

# --- set-up -------------------------------------------------------------------------------
$(VENV)/.installed: requirements.txt tests/requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r tests/requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

$(GET_PIP): tests/utils/get_pip_standin.py
	mkdir -p $(dir $@)
	cp $< $@

# ansible-test refuses symlinks: keep a real copy of the collection, beside amazon.aws.
tree: venv
	rm -rf $(TREE) $(COLL_ROOT)/amazon/aws
	mkdir -p $(TREE) $(COLL_ROOT)/amazon
	tar -C $(ROOT) -cf - \
	  --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./.sandbox --exclude=./.cache \
	  --exclude=./dist --exclude=./tests/output --exclude=./sandbox --exclude=./benchmarks --exclude=./tests/scenarios \
	  --exclude=.pytest_cache --exclude=__pycache__ --exclude=./.ci \
	  --exclude=./tests/integration/integration_config.yml . | tar -C $(TREE) -xf -
	cp -a $(SITE)/ansible_collections/amazon/aws $(COLL_ROOT)/amazon/aws

# --- suites -------------------------------------------------------------------------------
sanity: tree $(GET_PIP)
	cd $(TREE) && ansible-test sanity --venv --python 3.11 --color no $(TARGETS)

units: tree $(GET_PIP)
	cd $(TREE) && ansible-test units --venv --python 3.11 --color no --requirements $(TARGETS)

integration: tree $(GET_PIP)
	$(PY) tests/utils/with_sandbox.py --workdir $(BUILD)/sandbox-integration \
	  --config $(TREE)/tests/integration/integration_config.yml -- \
	  bash -c 'cd $(TREE) && ansible-test integration --venv --python 3.11 --color no --requirements $(TARGETS)'

# molecule reset first: a run cut short leaves "prepared: true" in molecule's state, and prepare
# would then be skipped against the fresh sandbox (whose stacks it creates).
molecule: tree
	@if ls extensions/molecule/*/molecule.yml >/dev/null 2>&1; then \
	  for s in extensions/molecule/*/; do \
	    name=$$(basename $$s); \
	    (cd extensions && molecule reset -s $$name >/dev/null 2>&1); \
	    (cd extensions && $(PY) $(ROOT)/tests/utils/with_sandbox.py --workdir $(ROOT)/.cache/sandbox-molecule-$$name \
	      -- molecule test -s $$name); \
	  done; \
	else echo "no molecule scenario"; fi

lint: tree
	ansible-lint --offline
	antsibull-changelog lint
	# only this build's collections: with the venv's site-packages scanned too, amazon.aws can be taken from
	# there, and antsibull-docs's copy of it then lacks its doc fragments
	cd $(TREE) && ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false antsibull-docs lint-collection-docs --plugin-docs .

# The oldest claimed pair (ansible-core 2.17 with amazon.aws 9.x) and the newest PyPI serves (ansible-core 2.21
# on Python 3.12 with amazon.aws 11): sanity, units, and the shipped playbook's upgrade then no-op against a
# sandbox (which runs in .venv), each pair in a venv of its own.  compat-all: units on every minor from the
# oldest to the newest (2.18, 2.19, 2.20 too), one after another, then a table; make test does not run it
# (about 19 minutes on 2 busy cores, the venvs included).
compat-oldest: venv
	bash tests/utils/compat.sh oldest $(BUILD)

compat-newest: venv
	bash tests/utils/compat.sh newest $(BUILD)

compat-all:
	bash tests/utils/compat.sh --all $(BUILD)

# docs/reliability.md is generated from the fault matrix (a scenario test fails when they differ).
reliability-doc: venv
	PYTHONPATH=$(ROOT)/tests/scenarios $(PY) tests/scenarios/matrix.py > docs/reliability.md

# ansible-playbook as users run it, against an in-process sandbox per pytest worker (tests/scenarios).
scenarios: tree
	PYTHONPATH=$(ROOT)/sandbox:$(ROOT)/tests/scenarios $(PY) -m pytest -q -p no:cacheprovider -n 2 $(or $(TARGETS),tests/scenarios)

sandbox-test: venv
	PYTHONPATH=$(ROOT)/sandbox $(PY) -m pytest sandbox/tests -q -p no:cacheprovider

# tree: the commands it prints use this build's collection (ANSIBLE_COLLECTIONS_PATH) and the venv's ansible-playbook.
sandbox: tree
	@PYTHONPATH=$(ROOT)/sandbox $(PY) -m mdl_sandbox --fleet sandbox/fleet.yml --endpoints-file .sandbox/endpoints.json

build: venv
	mkdir -p dist
	ansible-galaxy collection build --force --output-path dist

# The tarball installs, holds no development files, and ansible-doc shows every module, the role and the plugins.
build-check: build
	rm -rf $(BUILD)/installed && mkdir -p $(BUILD)/installed
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-galaxy collection install --force --offline --no-deps -p $(BUILD)/installed dist/mdl-herd-$$(sed -n 's/^version: //p' galaxy.yml).tar.gz
	! tar -tzf dist/mdl-herd-*.tar.gz | grep -E '(^|/)(\.venv|sandbox|\.ci|tests|benchmarks|Makefile|\.ansible-lint|\.gitignore|extensions)(/|$$)'
	cp -a $(COLL_ROOT)/amazon $(BUILD)/installed/ansible_collections/
	for m in $$(ls plugins/modules/*.py | xargs -n1 basename | sed 's/\.py$$//'); do \
	  ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t module mdl.herd.$$m | grep -q RETURN || { echo "ansible-doc mdl.herd.$$m: no RETURN"; exit 1; }; \
	  echo "ansible-doc mdl.herd.$$m: ok"; done
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t role mdl.herd.herd_upgrade | grep -q herd_upgrade_version
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t test mdl.herd.herd_version | grep -q RETURN
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t test mdl.herd.herd_deployment_failed | grep -q RETURN
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t test mdl.herd.herd_deployment_to_follow | grep -q RETURN
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t filter mdl.herd.herd_upgrade_input_problems | grep -q RETURN
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t filter mdl.herd.upgrade_herd_input | grep -q RETURN
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t filter mdl.herd.herd_upgrade_preflight_list | grep -q RETURN
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t filter mdl.herd.herd_upgrade_result | grep -q RETURN
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ansible-doc -t filter mdl.herd.herd_upgrade_said | grep -q RETURN
	rm -rf $(BUILD)/ee-context && $(PY) tests/utils/check_ee.py $(BUILD)/ee-context
	@echo "build-check: the tarball installs and documents every module, the role, the test plugin and the filter plugins"

# Benchmarks against a sandbox started in-process; results in benchmarks/results/ (not versioned).
bench: venv
	@echo "make bench: about 15 minutes on 2 cores; writes docs/benchmarks.md"
	PYTHONPATH=$(ROOT)/sandbox $(PY) benchmarks/suite.py --doc docs/benchmarks.md

# The demo's own venv and collection tree: only what it needs (tests/requirements-demo.txt, about a third of the
# development venv), amazon.aws taken from PyPI's ansible wheel.
DEMO_VENV  := $(ROOT)/.cache/demo-venv
DEMO_BUILD := $(BUILD)-demo
$(DEMO_VENV)/.installed: requirements.txt tests/requirements-demo.txt
	test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install -q -r tests/requirements-demo.txt
	rm -rf $(DEMO_VENV)/wheels && $(DEMO_VENV)/bin/python -m pip download -q --no-deps ansible==$$(sed -n 's/^ansible==//p' tests/requirements-dev.txt) -d $(DEMO_VENV)/wheels
	touch $@

demo: $(DEMO_VENV)/.installed
	@rm -rf $(DEMO_BUILD) && mkdir -p $(DEMO_BUILD)/ansible_collections/mdl/herd
	@tar -C $(ROOT) -cf - --exclude=./.git --exclude=./.venv --exclude=./.cache --exclude=./.sandbox --exclude=./dist \
	  --exclude=./tests --exclude=./sandbox --exclude=./benchmarks --exclude=__pycache__ . | tar -C $(DEMO_BUILD)/ansible_collections/mdl/herd -xf -
	@$(DEMO_VENV)/bin/python -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith("ansible_collections/amazon/aws/")]' \
	  $(DEMO_VENV)/wheels/ansible-*.whl $(DEMO_BUILD)
	@echo "make demo: a sandbox MDL fleet on 127.0.0.1, then the upgrade of its stack mdl/DEV, twice"
	@PATH=$(DEMO_VENV)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(DEMO_BUILD) ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
	  $(DEMO_VENV)/bin/python tests/utils/with_sandbox.py --workdir $(ROOT)/.sandbox/demo --fleet sandbox/fleet.yml -- bash tests/utils/demo.sh

# Two lanes side by side (2 cores): ansible-test's suites are mostly one busy process, the playbook suites
# (scenarios, molecule) mostly wait for sandbox deployments; integration and molecule end the first lane, which is
# otherwise done minutes before the second (measured 2026-12-05: lane 1 about 1170 s, scenarios 1490 s).
# `make test LANES=1`: every suite in turn, output as it comes.
LANE_1 := sanity units compat-oldest compat-newest sandbox-test lint build-check integration molecule
LANE_2 := scenarios
SUITES := $(LANE_1) $(LANE_2)
LANES  ?= 2
test: venv $(GET_PIP)
	@if [ "$(LANES)" = 1 ]; then bash tests/utils/run_suites.sh $(SUITES); \
	else bash tests/utils/run_suites.sh --build $(BUILD) --logs $(ROOT)/.cache/test-logs --lane "$(LANE_1)" --lane "$(LANE_2)"; fi

clean:
	rm -rf build dist .cache tests/output
