# Two commands on a fresh clone: `make run` and `make test`. Each creates .venv on first use (`make` alone
# only does that). `make clean` starts over: it removes .venv and everything built; the next command
# installs again. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench schemas package lock mutate clean ros-spec

.PHONY: install help
install: $(STAMP)
	@echo "ready: make run | make test | make bench | make schemas | make clean (make help says more)"

help:
	@echo "make run      the whole application from template.yml on an embedded local cloud, the sample"
	@echo "              changes through it, a summary of their outcomes"
	@echo "make test     the test suite"
	@echo "make lint     ruff, and mypy (strict on the apply engine, the store and the contract); CI runs it"
	@echo "make bench    the benchmark scripts (figures against a baseline measured in the same run)"
	@echo "make schemas  regenerate schemas/ from the models"
	@echo "make ros-spec regenerate localcloud/ros/spec.json from the ros-cdk wheels pinned in ros-cdk.txt"
	@echo "make package  one zip per function under build/, dependencies from requirements.lock"
	@echo "make lock     write requirements.lock from the installed runtime dependencies"
	@echo "make mutate   mutation testing of the core modules (a tool, not part of CI; docs/testing.md)"
	@echo "make clean    start over: remove .venv, build output and caches"
	@echo "Each creates .venv on first use (PYTHON=... picks the interpreter; default python3)."

# A venv whose python no longer runs (the interpreter it was made from is gone or moved) cannot be mended:
# it is removed before make decides anything, so the rule below makes it again.
ifneq ($(wildcard $(VENV)),)
ifneq ($(shell $(BIN)/python -c "print('ok')" 2>/dev/null),ok)
$(info make: $(VENV) has no working python: making it again)
$(shell rm -rf $(VENV))
endif
endif

# The stamp is removed first and written last, after a check: an install that failed halfway never looks
# done, and the next make installs again (into the same venv). A venv that could not be made is not kept.
# A lock file of exact versions, when the project has one, constrains the install (-c).
# The ROS specification's source (localcloud/ros/ros-cdk.txt): Alibaba's ros-cdk wheels, downloaded beside the venv
# (read as files, never installed) for the test that holds localcloud/ros/spec.json to them.
LOCK := $(wildcard requirements.lock)
ROS_PINS := $(wildcard localcloud/ros/ros-cdk.txt)
ROS_WHEELS := $(VENV)/ros-cdk
$(STAMP): pyproject.toml $(LOCK) $(ROS_PINS)
	@rm -f $(STAMP)
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); } \
	  || { rm -rf $(VENV); exit 1; }
	@$(BIN)/python -m pip install -q --upgrade pip \
	  && $(BIN)/python -m pip install -q $(if $(LOCK),-c $(LOCK) )-e '.[dev]' \
	  && $(BIN)/python -c "import sgrule.cli, localcloud.cli, pytest" \
	  $(if $(ROS_PINS),&& $(BIN)/python -m pip download -q --no-deps --require-hashes --dest $(ROS_WHEELS) -r $(ROS_PINS)) \
	  || { echo "make: installing into $(VENV) failed (see above). Fix the cause and run make again, or" \
	            "\`make clean\` to start over." >&2; exit 1; }
	@touch $(STAMP)

# The whole pipeline on one machine: the application from template.yml on an embedded localcloud seeded with
# the sample state, the sample changes sent with the MNS SDK, their outcomes awaited on the bus, a summary.
run: $(STAMP)
	$(BIN)/sgrule local pipeline --template template.yml --state events/apply/state.json --changes events/apply/mns-batch.json

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff over everything we write; mypy over sgrule and localcloud (settings in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

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

# localcloud/ros/spec.json from the ros-cdk wheels pinned in localcloud/ros/ros-cdk.txt (commit the result).
ros-spec: $(STAMP)
	$(BIN)/python -m localcloud.ros.generate --write --wheels $(ROS_WHEELS)

# One code zip per function in build/ (build/<folder>.zip), dependencies from requirements.lock for the
# functions' runtime (python3.12, manylinux2014 x86_64). Upload them to the template's CodeBucket.
package: $(STAMP)
	$(BIN)/sgrule package --out build

# Re-pin requirements.lock to the versions installed in .venv (after changing dependencies).
lock: $(STAMP)
	$(BIN)/sgrule lock --write

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache mutants
