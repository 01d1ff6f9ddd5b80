# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv once;
# the stamp file makes a second run skip the install.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?= -n 2 -q

.PHONY: demo test lab lint browser-deps labextension clean

$(STAMP): pyproject.toml setup.py labextension/package.json labextension/package-lock.json
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: anything else would make pip fetch a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	@$(MAKE) --no-print-directory labextension
	@$(MAKE) --no-print-directory browser-deps
	touch $(STAMP)

# Debian Chromium (figure export via kaleido, browser tests), poppler (PDF checks) and a
# minimal TeX with TikZ (the circuit diagrams' .tex output is compiled in a test).
BROWSER_DEBS := chromium poppler-utils texlive-latex-base texlive-pictures
browser-deps:
	@if [ -x /usr/bin/chromium ] && command -v pdftotext >/dev/null && command -v pdflatex >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_DEBS) >/dev/null; \
	else \
		echo "NOTE: install Debian $(BROWSER_DEBS) (sudo apt-get install ...) for figure export and TikZ checks; tests that need them are skipped."; \
	fi

# The Workbench JupyterLab extension (labextension/, TypeScript): built with the node/npm on
# the machine into workbench/labextension/, then linked into the venv's
# share/jupyter/labextensions/ (an editable install does not copy data files; a wheel built
# after this step carries them). Without node the package works and panels fall back inline.
labextension:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "NOTE: node/npm not found: the Workbench JupyterLab extension (sidebar, panels) is not built and wb.panel() shows views inline. Install Node.js >= 20 and run 'make labextension'."; \
		exit 0; \
	fi; \
	set -e; cd labextension; \
	if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
		npm ci --no-audit --no-fund --loglevel=error; \
	fi; \
	PATH="$(abspath $(VENV))/bin:$$PATH" npm run build; \
	cd ..; $(VENV)/bin/jupyter-builder develop --overwrite .

demo: $(STAMP)
	$(VENV)/bin/workbench demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) out build *.egg-info workbench/labextension labextension/lib labextension/node_modules
