# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench schemas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The realistic MNS batch through the apply function, against an embedded localcloud seeded with the sample
# state: outcomes (JSON) on stdout, logs and the emulator's summary on stderr.
run: $(STAMP)
	$(BIN)/sgrule local invoke apply_egress_rule --event events/apply/mns-batch.json --state events/apply/state.json

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

schemas: $(STAMP)
	$(BIN)/sgrule schemas --write

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
