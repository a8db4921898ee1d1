# The only install path: `make run` and `make test` both go through $(STAMP).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dossier-installed

# llama-cpp-python compiles llama.cpp from source. A native (-march=native) build
# crashes in the AMX matmul kernel on these machines at the first token, so build
# a portable x86-64 binary. pip caches the built wheel, so repeat installs reuse it.
ifeq ($(shell uname -m),x86_64)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
endif

.PHONY: run test lint install clean bench stress fonts desktop-libs

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[test]'
	@$(MAKE) --no-print-directory fonts desktop-libs
	touch $(STAMP)

# PDF briefs draw CJK and symbols with whatever fonts the system has. A bare
# Debian machine (CI) has none for them, so add two small ones there when we
# may (root, apt); elsewhere desktop systems already have such fonts.
fonts:
	@if ! (fc-list 2>/dev/null | grep -q "Droid Sans Fallback") \
	   && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y --no-install-recommends fonts-droid-fallback fonts-symbola >/dev/null 2>&1 \
	  || (apt-get update >/dev/null 2>&1 \
	      && apt-get install -y --no-install-recommends fonts-droid-fallback fonts-symbola >/dev/null 2>&1) \
	  || echo "warning: could not install fonts for CJK in PDF briefs"; \
	fi

# Qt's window needs X11 libraries that a bare Debian/Ubuntu machine lacks (Qt then
# aborts, blaming the wrong package). ui/platform_check.py asks the linker which
# are missing; install them where we may (root, apt), else the app names them.
desktop-libs: | $(PY)
	@missing="$$($(PY) -m ui.platform_check 2>/dev/null | tr "\n" " ")"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing the desktop libraries Qt needs: $$missing"; \
	  apt-get install -y --no-install-recommends $$missing >/dev/null 2>&1 \
	  || (apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $$missing >/dev/null 2>&1) \
	  || echo "warning: could not install $$missing (the window will say how)"; \
	fi

install: $(STAMP)

run: $(STAMP) desktop-libs
	$(VENV)/bin/dossier

lint: $(STAMP)
	$(VENV)/bin/ruff check app memory ui cli dossier tests bench scripts
	$(VENV)/bin/ruff format --check app memory ui cli dossier tests bench scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/retrieval_quality.py
	$(PY) bench/conversation_memory.py
	$(PY) bench/extraction.py
	$(PY) bench/cli_startup.py
	$(PY) bench/retrieval_speed.py
	$(PY) bench/generation.py
	$(PY) bench/startup.py
	$(PY) bench/soak.py

# The long reliability tests in full: 100 crash rounds, 8 x 500 operations, 300 isolation cases, 500 forged backups.
stress: $(STAMP)
	DOSSIER_STRESS=1 $(PY) -m pytest -s tests/test_crash_safety.py tests/test_concurrency.py tests/test_isolation_fuzz.py tests/test_restore_hostile.py

clean:
	rm -rf $(VENV)
