# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-test.txt | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
BENCH ?= all
# The suite runs in parallel processes (pytest-xdist), one per core by default.
TEST_WORKERS ?= auto

.PHONY: run test setup install openapi workflow-doc bench clean lint backup restore e2e screenshots faults replica

$(STAMP): requirements.txt requirements-test.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

setup: $(STAMP)
	@mkdir -p var
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo --if-empty

run: setup
	@echo ""
	@echo "  基层治理四平台 backend on http://$(HOST):$(PORT)/"
	@echo "  API docs:  http://$(HOST):$(PORT)/api/v1/docs"
	@echo "  Admin:     http://$(HOST):$(PORT)/admin/   (demo_admin)"
	@echo "  Accounts (password demo-pass-2026): demo_grid_worker demo_grid_worker_b demo_secretary"
	@echo "            demo_dispatcher demo_handler demo_unit_handler demo_department_handler"
	@echo "            demo_commander demo_resident demo_admin"
	@echo ""
	@# The worker (push outbox, sync log numbering, supervision 督办, tombstone purge) runs beside the server and stops with it.
	$(PY) manage.py run_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) --ping-interval 20 --ping-timeout 30 --websocket_timeout 86400 backend.asgi:application

test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

openapi: $(STAMP)
	$(PY) manage.py export_openapi_schema --api backend.api.api --output openapi/openapi.json --indent 2 --sorted

workflow-doc: $(STAMP)
	$(PY) manage.py workflow_doc

bench: setup
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/run.py $(BENCH)

# The read replica drill (docs/operations.md "Replica"): builds a primary (port 5442) and its
# streaming replica (5443, pg_basebackup) on this machine's PostgreSQL once, then checks the
# router's rule against them: lagging reads on the replica, read-your-writes on the primary.
replica: $(STAMP)
	$(PY) bench/replica_drill.py

# Backups (docs/operations.md): the database and the photo store, with a manifest to compare.
BACKUP_DIR ?= var/backups
backup: $(STAMP)
	$(PY) manage.py backup --to $(BACKUP_DIR)

# Restores FROM=<a backup directory> into the configured database, which must be empty.
restore: $(STAMP)
	@test -n "$(FROM)" || (echo "usage: make restore FROM=var/backups/<time>  (DATABASE_URL: a fresh, empty database)"; exit 2)
	$(PY) manage.py restore $(FROM)

# The fault drill (docs/operations.md, "Faults"): its own PostgreSQL cluster and Redis on
# FAULTS_PORTS (postgres,redis,http,ws; default 5440,6380,8160,8161), removed afterwards; kills
# and restarts each process under load and checks that nothing was lost. FAULTS=short for CI.
FAULTS ?= full
faults: $(STAMP)
	$(PY) -m backend.ops.faults --mode $(FAULTS)

# The console in a real browser: Debian's chromium (and a CJK font for the Chinese pages and
# screenshots) from apt, never a browser download; its screenshots in var/e2e/screenshots/.
e2e: $(STAMP)
	@command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei)
	$(PY) -m pytest e2e -p no:cacheprovider $(PYTEST_ARGS)

# The same browser tests, renewing the screenshots docs/console.md shows.
screenshots:
	$(MAKE) e2e E2E_SHOTS=docs/screenshots

clean:
	rm -rf $(VENV) var
