#!/usr/bin/env bash
# Mutation testing (issue 19): mutmut 3 mutates the pure modules listed in pyproject's [tool.mutmut] and runs the
# fast tests (tests/unit) against every mutant. mutmut only finds code under ./, src/ or source/, so the run
# happens in a staging tree, build/mutation, where shared/ is copied to src/. CPU-heavy: one child, lowest
# priority. Usage: scripts/mutation.sh [mutant names or globs, e.g. 'framelane.security.*'].
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
STAGE=build/mutation
# the sources and tests as they are now; cp -a keeps mtimes, by which mutmut sees which files changed
rm -rf "$STAGE/src" "$STAGE/tests" "$STAGE/infra" "$STAGE/scripts"
mkdir -p "$STAGE/src"
cp -a shared/framelane "$STAGE/src/"
# the unit tests also import infra/ (stage config) and load scripts/ (the SageMaker smoke plan)
cp -a tests infra scripts "$STAGE/"
cp pyproject.toml "$STAGE/"
cd "$STAGE"
nice -n 19 "$REPO/.venv/bin/mutmut" run --max-children 1 "$@" || true
"$REPO/.venv/bin/mutmut" results
"$REPO/.venv/bin/mutmut" results --all true | "$REPO/.venv/bin/python" "$REPO/scripts/mutation_score.py"
