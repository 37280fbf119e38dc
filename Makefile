# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench schemas mutate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The whole pipeline on one machine: the application from template.yml on an embedded localcloud seeded with
# the sample state, the sample changes sent with the MNS SDK, their outcomes awaited on the bus, a summary.
run: $(STAMP)
	$(BIN)/sgrule local pipeline --template template.yml --state events/apply/state.json --changes events/apply/mns-batch.json

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

# Mutation testing of the core modules (pyproject.toml [tool.mutmut]); hours for all of them, so narrow it
# with MUTANTS, e.g. make mutate MUTANTS='sgrule.clients.retry*'. Survivors: cd build/mutation && mutmut show NAME.
MUTANTS ?=
mutate: $(STAMP)
	rm -rf build/mutation && mkdir -p build/mutation/src
	cp -r shared/sgrule build/mutation/src/sgrule
	cp -r tests functions events schemas localcloud docs template.yml README.md pyproject.toml build/mutation/
	cd build/mutation && $(CURDIR)/$(BIN)/mutmut run $(MUTANTS); $(CURDIR)/$(BIN)/mutmut results

schemas: $(STAMP)
	$(BIN)/sgrule schemas --write

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis mutants
