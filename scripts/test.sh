#!/usr/bin/env bash
# The test command of the README and of CI: installs test dependencies when missing, runs the whole
# xunit suite in Release, and ends with one line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh || exit 1

# TorchSharp turns every number passed to a tensor op into a finalisable native Scalar and passes its handle without
# keeping the object alive, so a garbage collection during the call can free the Scalar while libtorch reads it
# ("Unknown scalar type", a failed float conversion): about one failure per full run here. A large gen0 budget makes
# collections, and so the race, much rarer; hot paths in LayerLens hold their Scalars explicitly.
export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x10000000}"

log=$(mktemp)
dotnet test LayerLens.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# dotnet test ends each test assembly with "Total tests: N" followed by "Passed: N", "Failed: N" and
# "Skipped: N" lines (the ones that are not zero); older loggers print "Passed!  - Failed: 0, Passed: 9, ...".
read -r passed failed skipped < <(awk '
  /^Total tests: / { block = 1; next }
  block && /^ +Passed: +[0-9]+$/  { p += $2; next }
  block && /^ +Failed: +[0-9]+$/  { f += $2; next }
  block && /^ +Skipped: +[0-9]+$/ { s += $2; next }
  block && /Total time:/ { block = 0; next }
  /^(Passed|Failed)! +- Failed: / {
    match($0, /Failed: *[0-9]+/);  ff = substr($0, RSTART + 7, RLENGTH - 7)
    match($0, /Passed: *[0-9]+/);  pp = substr($0, RSTART + 7, RLENGTH - 7)
    match($0, /Skipped: *[0-9]+/); ss = substr($0, RSTART + 8, RLENGTH - 8)
    p2 += pp; f2 += ff; s2 += ss; seen2 = 1
  }
  END { if (p + f + s > 0) print p + 0, f + 0, s + 0; else print p2 + 0, f2 + 0, s2 + 0 }' "$log")
rm -f "$log"
# The ONNX backend node tests leave a per-operator table (passed / failed / not applicable, with reasons).
if [ -f TestResults/onnx-node-tests.txt ]; then echo; cat TestResults/onnx-node-tests.txt; fi
echo
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
[ "$passed" -gt 0 ] || { echo "no test ran" >&2; exit 1; }
exit 0
