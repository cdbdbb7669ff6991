# Two commands matter: `make demo` (the quickstart on the local backend) and `make test` (everything).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.test-installed
CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-matrix lint lab bench emulator cluster cluster-demo clean install test-deps chromium mutate labextension

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The editable install builds the JupyterLab extension (jlpm + rspack) through hatch-jupyter-builder.
# With a `jupyter labextension develop` link in the venv, pip writes install.json through it into the build
# folder, which would then be packaged twice (the matrix's venvs fail to install): it is removed after each.
UNLINKED := rm -f jupyter_kf/labextension/install.json

$(STAMP): $(BIN)/python pyproject.toml package.json
	$(BIN)/pip install -q -e ".[lab]"
	$(UNLINKED)
	touch $(LABEXT_STAMP) $@

# The editable install builds the labextension once (it skips the build when a bundle exists): rebuild it
# whenever a source under labextension/ (or package.json, tsconfig.json) is newer than the last build.
LABEXT_STAMP := jupyter_kf/labextension/.built
labextension: | $(STAMP)
	@if [ ! -e $(LABEXT_STAMP) ] || [ -n "$$(find labextension package.json tsconfig.json -type f -newer $(LABEXT_STAMP) | head -1)" ]; then \
	  echo "rebuilding the labextension (its sources changed)"; \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jlpm build && touch $(LABEXT_STAMP); \
	fi

install: $(STAMP)

# torch 2.13.0 (CPU build) for the torch.distributed example and test; pip takes it from the machine's local wheel.
$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e ".[lab,test]"
	$(UNLINKED)
	$(BIN)/pip install -q "torch==2.13.0"
	touch $@

test-deps: $(TEST_STAMP) labextension chromium .venv-kfp/bin/python .venv-kserve/bin/python

# kfp pins kubernetes<31 (the core uses 37): the IR cross-check runs kfp in its own venv.
.venv-kfp/bin/python:
	$(PY) -m venv .venv-kfp
	.venv-kfp/bin/pip install -q "kfp==2.17.3" "kfp-kubernetes==2.17.3"

# KServe's own model server, the baseline of bench/bench_serving.py; same scikit-learn as ours (the model is pickled).
.venv-kserve/bin/python: | $(TEST_STAMP)
	$(PY) -m venv .venv-kserve
	.venv-kserve/bin/pip install -q "kserve==0.21.0" "scikit-learn==$$($(BIN)/python -c 'import sklearn; print(sklearn.__version__)')"

# Kale 2.3.0 in its own venv, for bench/bench_pipeline.py's side-by-side figures.
.venv-kale/bin/kale:
	$(PY) -m venv .venv-kale
	.venv-kale/bin/pip install -q "kubeflow-kale==2.3.0"

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

demo: $(STAMP)
	$(BIN)/python -m jupyter_kf.demo examples/quickstart.ipynb

# The kernel-side suite on every other CPython 3.10+ found (pyenv or PATH), then everything on the default.
test: test-deps
	$(BIN)/ruff check .
	$(BIN)/python tests/support/python_matrix.py
	$(BIN)/python -m pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

test-matrix: $(TEST_STAMP)
	$(BIN)/python tests/support/python_matrix.py

MUTATE_STAMP := $(VENV)/.mutate-installed
$(MUTATE_STAMP): $(TEST_STAMP) pyproject.toml
	$(BIN)/pip install -q -e ".[lab,test,mutate]"
	$(UNLINKED)
	touch $@

# Mutation testing (cosmic-ray) of the core modules, each against its own tests, in a copy of the tree; slow, so
# not part of `make test`. `make mutate MODULES=capture,watch` narrows it; reports go to artifacts/mutation/.
comma := ,
mutate: $(MUTATE_STAMP)
	$(BIN)/python tests/support/mutate.py $(subst $(comma), ,$(MODULES))

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=examples

bench: $(TEST_STAMP) .venv-kale/bin/kale .venv-kserve/bin/python
	cd bench && ../$(BIN)/python run_all.py

emulator: $(TEST_STAMP)
	$(BIN)/python -m tests.support.k8s_emulator --port 8001 --kubeconfig /tmp/kf-emulator.kubeconfig

# The emulator with its controllers and a kubelet: workloads run their real commands on this machine.
cluster: $(TEST_STAMP)
	$(BIN)/python -m tests.support.k8s_emulator --simulate --port 8001 --kubeconfig /tmp/kf-cluster.kubeconfig

# That cluster plus JupyterLab on the kubernetes backend, the quickstart open (HEADLESS=1: run it in a kernel).
cluster-demo: $(STAMP) $(TEST_STAMP)
	$(BIN)/python -m tests.support.k8s_emulator.simulate.demo $(if $(HEADLESS),--headless)

clean:
	rm -rf $(VENV) .venv-py* .venv-kfp .venv-kale node_modules lib .yarn tsconfig.tsbuildinfo jupyter_kf/labextension
