# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench schemas package lock clean

# The runtime dependencies at the versions of requirements.lock (-c): the tests run what the zips ship.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# The whole pipeline on one machine: the application from template.yml on an embedded localcloud seeded with
# the sample state, the sample changes sent with the MNS SDK, their outcomes awaited on the bus, a summary.
run: $(STAMP)
	$(BIN)/sgrule local pipeline --template template.yml --state events/apply/state.json --changes events/apply/mns-batch.json

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

schemas: $(STAMP)
	$(BIN)/sgrule schemas --write

# One code zip per function in build/ (build/<folder>.zip), dependencies from requirements.lock for the
# functions' runtime (python3.12, manylinux2014 x86_64). Upload them to the template's CodeBucket.
package: $(STAMP)
	$(BIN)/sgrule package --out build

# Re-pin requirements.lock to the versions installed in .venv (after changing dependencies).
lock: $(STAMP)
	$(BIN)/sgrule lock --write

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
