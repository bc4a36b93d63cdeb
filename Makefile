# gsmgw: two commands for a newcomer (`make run`, `make test`); the rest are conveniences.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz bench soak simulate catalogues clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## the gateway on two virtual modems, data in ./var
	$(BIN)/gsmgw run --simulate 2 --config config/dev.toml

DATABASE ?= $(or $(GSMGW_TEST_DATABASE),sqlite)
test: $(STAMP)  ## the suite; `make test DATABASE=postgresql` runs it on a PostgreSQL server it starts itself
	GSMGW_TEST_DATABASE=$(DATABASE) $(BIN)/python -m pytest

fuzz: $(STAMP)  ## schemathesis on the REST API of a daemon on virtual modems (~80 s)
	$(BIN)/python scripts/fuzz_api.py --max-time 75

bench: $(STAMP)  ## every benchmark, one JSON line each (~6 min); figures in docs/performance.md
	$(BIN)/python bench/modem_overhead.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/submitting.py
	$(BIN)/python bench/idle.py
	$(BIN)/python bench/contacts.py
	$(BIN)/python bench/api.py

soak: $(STAMP)  ## the daemon on virtual modems under random faults for 10 minutes (bench/soak.py); one JSON line
	$(BIN)/python bench/soak.py

simulate: $(STAMP)
	$(BIN)/gsmgw simulate 2 --config config/dev.toml

catalogues: $(STAMP)  ## the console's strings into its .po files (then translate what is new; a test checks)
	$(BIN)/pybabel extract -F web/console/babel.cfg -k lazy_gettext --no-location -o var/console.pot .
	for lang in ar ru zh; do $(BIN)/pybabel update -i var/console.pot -d web/console/translations -l $$lang --ignore-obsolete --width 120; done

clean:
	rm -rf $(VENV) var .pytest_cache
