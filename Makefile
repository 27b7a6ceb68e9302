# `make run` serves the app at http://127.0.0.1:5000; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
# Where `make run` listens: `make run PORT=8000` or `HOST=0.0.0.0 make run`.
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install install-dev lock node-deps libical-deps run test test-sqlite test-postgresql \
	translations lint bench bench-load icons clean

# The runtime set only (requirements.txt): what `make run` and production need. Every package
# is pinned with its hashes, so an install is the same everywhere or fails.
install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	touch $@

# The runtime set plus the test and lint tools (requirements-dev.txt, which holds both).
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $(VENV)/.installed $@

# Regenerate the pinned, hashed files after editing requirements.in or requirements-dev.in.
# Pins already in the .txt files are kept unless the .in files ask otherwise.
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links
lock: install-dev
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	$(FLASK) serve --host $(HOST) --port $(PORT)

# The catalogs (scheduler/translations/<language>/LC_MESSAGES/messages.po): gather every marked
# string from the code and templates (babel.cfg), add the new ones to each language's catalog
# (untranslated: tests/test_translations.py fails until they are) and drop the ones no longer
# used, then compile. The app also compiles a catalog newer than its .mo when it starts.
# Sorted, without line numbers, so two changes adding strings touch different lines.
TRANSLATIONS := scheduler/translations
POT := .cache/messages.pot
translations: install-dev
	mkdir -p .cache
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l -k lazy_pgettext:1c,2 --add-location=file \
	  --sort-output --no-wrap --project "IOP Scheduler" --omit-header -o $(POT) .
	$(BIN)/pybabel update -i $(POT) -d $(TRANSLATIONS) --no-wrap --ignore-obsolete \
	  --no-fuzzy-matching
	sed -i '/^"POT-Creation-Date: /d' $(TRANSLATIONS)/*/LC_MESSAGES/messages.po
	$(BIN)/pybabel compile --statistics -d $(TRANSLATIONS)

# Mozilla's ical.js, an independent parser the feed tests check our calendars with. It goes
# into an ignored folder; without node the tests that need it skip and say so.
NODE_DIR := .cache/node
ICALJS := $(NODE_DIR)/node_modules/ical.js/package.json
ICALJS_VERSION := 2.2.1
# FHIR.js (npm "fhir"): its validator holds resources to R4 4.0.1's structure definitions and
# value sets; tests/js/fhir_validate.cjs checks every resource /fhir/R4 emits with it, apart
# from fhir.resources' models.
FHIRJS := $(NODE_DIR)/node_modules/fhir/package.json
FHIRJS_VERSION := 4.12.0
# axe-core: tests/browser/test_axe.py runs it in Chromium over every page, for WCAG 2.1 AA.
AXE := $(NODE_DIR)/node_modules/axe-core/package.json
AXE_VERSION := 4.14.1

node-deps:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
	  { test -f $(ICALJS) && test -f $(FHIRJS) && test -f $(AXE); } || \
	    npm install --prefix $(NODE_DIR) --no-audit --no-fund --silent \
	    ical.js@$(ICALJS_VERSION) fhir@$(FHIRJS_VERSION) axe-core@$(AXE_VERSION); \
	else echo "node/npm not found: the ical.js feed tests, the FHIR.js checks and the axe-core" \
	  "accessibility tests will skip."; fi

# libical, the C library Evolution (and GNOME, KDE, Thunderbird's predecessors) reads calendars
# with: the feed tests call its RFC 5546 restriction check through ctypes. Debian's package is
# unpacked, not installed, into the ignored .cache (shared between worktrees). Each run unpacks
# into a folder of its own and renames it into place, so two runs at once cannot leave half a
# library; the loser's rename fails and it throws its copy away. Without apt the tests skip.
LIBICAL_DIR := .cache/libical

libical-deps:
	@if [ -d $(LIBICAL_DIR) ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then \
	  mkdir -p .cache && work=$$(mktemp -d .cache/libical-download.XXXXXX) && \
	  if (cd $$work && apt-get download -q libical3 >download.log 2>&1) \
	     && dpkg-deb -x $$work/libical3_*.deb $$work/root; then \
	    mv -T $$work/root $(LIBICAL_DIR) 2>/dev/null || true; \
	  else cat $$work/download.log 2>/dev/null; \
	    echo "apt-get could not download libical3: the libical feed tests will skip."; fi; \
	  rm -rf $$work; \
	else echo "apt-get/dpkg-deb not found: the libical feed tests will skip."; fi

# SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (CI sets it).
# With both lanes, schemathesis's random phase runs in the PostgreSQL lane only: it sends the
# same cases in either lane, and PostgreSQL is the stricter database (NUL bytes, integer and
# length limits). Its boundary-value phase runs in both.
test: install-dev node-deps libical-deps
	@if [ -n "$$TEST_DATABASE_URL" ]; then $(MAKE) test-sqlite FUZZ_RANDOM=0 && \
	  $(MAKE) test-postgresql; \
	else $(MAKE) test-sqlite; echo "TEST_DATABASE_URL not set: skipped the PostgreSQL pass."; fi

# In parallel with pytest-xdist (`make test WORKERS=1` for one process); each worker has its own
# databases (tests/conftest.py). One worker more than there are cores: many tests wait on a
# server, a browser or the database (on 2 cores, 3 workers took both lanes from 9:10 to 7:36;
# 4 were slower again). A test file stays on one worker, so its module fixtures (the fuzzed
# clinic) are built once. The 15 slowest tests are listed.
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
# Compiled modules are kept between runs, in the ignored .cache, even where the environment sets
# PYTHONDONTWRITEBYTECODE (as the shared dev machine does): without them every worker compiles
# the app and has pytest rewrite the asserts of every test module and plugin (schemathesis's
# whole package) again, about 8 of its 16 s of CPU before its first test, in each lane.
PYTEST := env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(CURDIR)/.cache/pycache \
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --durations=15

test-sqlite:
	TEST_DATABASE_URL= FUZZ_RANDOM=$(or $(FUZZ_RANDOM),1) $(PYTEST)

test-postgresql:
	$(PYTEST)

# Style and likely bugs (ruff, over the paths pyproject.toml names) and types (mypy, over the
# services and models, as pyproject.toml sets). Checks only: `ruff check --fix` changes files.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

# Benchmarks print their figures; BENCH_DATABASE_URL=postgresql://… runs them on PostgreSQL too.
bench: install
	$(BIN)/python bench/materialize.py
	$(BIN)/python bench/booking.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/feeds.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/proposal_gather.py
	$(BIN)/python bench/proposals.py
	$(BIN)/python bench/proposal_demo.py
	@if [ -n "$$BENCH_DATABASE_URL" ]; then \
	  $(BIN)/python bench/materialize.py --database-url "$$BENCH_DATABASE_URL"; \
	  $(BIN)/python bench/booking.py --database-url "$$BENCH_DATABASE_URL"; \
	  $(BIN)/python bench/reports.py --database-url "$$BENCH_DATABASE_URL"; \
	  $(BIN)/python bench/feeds.py --database-url "$$BENCH_DATABASE_URL"; \
	  $(BIN)/python bench/pages.py --database-url "$$BENCH_DATABASE_URL"; \
	  $(BIN)/python bench/proposal_gather.py --database-url "$$BENCH_DATABASE_URL"; \
	  $(BIN)/python bench/proposal_demo.py --database-url "$$BENCH_DATABASE_URL"; fi

# A clinic network's load: LOAD_DATABASE_URL names an existing PostgreSQL database kept for this;
# the first run migrates it and seeds 20,000 clients × 52 weeks (about four minutes), later runs
# reuse it.
bench-load: install
	@test -n "$$LOAD_DATABASE_URL" || { echo "Set LOAD_DATABASE_URL=postgresql://…"; exit 2; }
	DATABASE_URL="$$LOAD_DATABASE_URL" $(FLASK) db upgrade
	DATABASE_URL="$$LOAD_DATABASE_URL" $(FLASK) seed-demo --if-empty --clients 20000 --weeks 52
	$(BIN)/python bench/load.py --database-url "$$LOAD_DATABASE_URL"

# scheduler/static/icons/ is drawn by this script (pure Python) and committed; re-run it after
# changing the drawing. tests/test_pages_brand.py fails while the two disagree.
icons:
	$(PYTHON) tools/make_icons.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .cache
