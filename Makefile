# Thin wrapper: every target calls invoke (tasks.py) or pytest in .venv.
VENV	?= .venv
PY	= $(VENV)/bin/python
INV	= $(VENV)/bin/invoke

.PHONY: venv demo test setup patch unpatch tools kernel vmtest release pkglint bench

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt py-sotimestamp/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -e 'py-sotimestamp[plot,zstd]'
	touch $@

demo: venv
	$(INV) demo

test: venv
	$(PY) -m pytest tests

setup patch unpatch tools kernel vmtest release pkglint bench: venv
	$(INV) $@
