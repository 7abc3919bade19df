#!/usr/bin/env bash
# Runs the test suite inside .venv. pytest exits 5 when it collected no test: for this
# project that means the suite or its paths are broken, so it is reported and fails.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "convolab: pytest collected no tests (exit 5): check tests/ and the -k/-m filters given" >&2
fi
exit "$rc"
