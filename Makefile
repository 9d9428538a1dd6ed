# hookgate: `make run` serves on the embedded default, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run dev test lint typecheck format pytest bench install-bench-tools install-browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hookgate migrate
	$(BIN)/hookgate serve

# The whole connect flow on one machine: the provider emulators on DEV_EMULATORS_PORT
# and hookgate (its own SQLite store and spool under .dev/) pointed at them.
DEV_EMULATORS_PORT ?= 8070
dev: $(STAMP)
	@mkdir -p .dev; \
	$(BIN)/python -m tests.emulators.serve --port $(DEV_EMULATORS_PORT) > .dev/emulators.env & \
	emulators=$$!; trap 'kill $$emulators 2>/dev/null' EXIT INT TERM; \
	until grep -q '^# providers' .dev/emulators.env 2>/dev/null; do sleep 0.2; done; \
	. ./.dev/emulators.env; \
	export HOOKGATE_DATABASE_URL=sqlite+aiosqlite:///.dev/hookgate.db; \
	export HOOKGATE_SPOOL_PATH=.dev/hookgate-spool.db; \
	export HOOKGATE_ADMIN_TOKEN=$${HOOKGATE_ADMIN_TOKEN:-dev-admin-token}; \
	echo "admin token: $$HOOKGATE_ADMIN_TOKEN; emulators on :$(DEV_EMULATORS_PORT)"; \
	$(BIN)/hookgate migrate && $(BIN)/hookgate serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy gateway verifiers consumers schemas tests

pytest: $(STAMP) $(BIN)/promtool install-bench-tools install-browser
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=40

test: lint pytest

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) install-bench-tools
	$(BIN)/python -m tests.bench.run

# $(call apt-install,COMMAND,PACKAGE): PACKAGE installed with apt-get when COMMAND is
# missing and we are root, refreshing the package lists if need be.
apt-install = command -v $(1) >/dev/null || { [ "$$(id -u)" = 0 ] && \
	{ apt-get install -y -qq $(2) >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $(2) >/dev/null 2>&1; }; }; } \
	|| { echo "$(1) is missing: run apt-get install $(2)" >&2; exit 1; }

# wrk drives the load (the bench, and the test that runs it quickly).
install-bench-tools:
	@$(call apt-install,wrk,wrk)

# The console's browser tests drive Debian's Chromium with Playwright (no browser download).
install-browser:
	@$(call apt-install,chromium,chromium)

# promtool checks the alert rules: taken from Debian's prometheus package without
# installing it (no service is started), into the virtual environment.
$(BIN)/promtool: | $(STAMP)
	@command -v promtool >/dev/null && ln -sf "$$(command -v promtool)" $@ && exit 0; \
	tmp=$$(mktemp -d) && cd $$tmp && \
	{ apt-get download prometheus >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && apt-get download prometheus >/dev/null 2>&1; }; } && \
	dpkg-deb -x prometheus_*.deb root && cp root/usr/bin/promtool $(CURDIR)/$@; \
	status=$$?; rm -rf $$tmp; \
	[ $$status = 0 ] || { echo "promtool is missing and could not be fetched with apt-get download prometheus" >&2; exit 1; }

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
