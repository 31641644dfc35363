#!/usr/bin/env bash
# The test command of the README and of CI: installs test dependencies when missing, runs the whole
# xunit suite in Release, and ends with one line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh || exit 1

log=$(mktemp)
dotnet test LayerLens.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# dotnet test prints one summary line per test assembly: "Passed!  - Failed: 0, Passed: 9, Skipped: 0, ..."
read -r passed failed skipped < <(grep -E '^(Passed|Failed)! +- Failed: ' "$log" | sed -E 's/.*Failed: *([0-9]+), Passed: *([0-9]+), Skipped: *([0-9]+).*/\2 \1 \3/' \
  | awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
rm -f "$log"
# The ONNX backend node tests leave a per-operator table (passed / failed / not applicable, with reasons).
if [ -f TestResults/onnx-node-tests.txt ]; then echo; cat TestResults/onnx-node-tests.txt; fi
echo
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
[ "$passed" -gt 0 ] || { echo "no test ran" >&2; exit 1; }
exit 0
