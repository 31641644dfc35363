#!/bin/sh
# Deep-distance benchmark: LPIPS-readout distances over 5 layers of a ResNet-18 graph on TID2013-sized pairs
# (512x384), LayerLens against PyTorch computing the same, in the same run (docs/benchmarks.md).
# Usage: bench/quality/run_deep.sh [REFS=4] [PER_REF=30] [THREADS=2] [BATCH=8] [ROUNDS=2]   (from the repository root)
set -eu
REFS=${1:-4}
PER=${2:-30}
T=${3:-2}
B=${4:-8}
ROUNDS=${5:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
dotnet build -c Release bench/quality/DeepBench -o "$TMP/bin" >/dev/null
/usr/bin/python3 bench/quality/deep_distance_torch.py prepare "$TMP/pairs" "$REFS" "$PER"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  # The two sides alternate, the order flipped every round, so both see the same load on the shared machine.
  if [ $((r % 2)) -eq 1 ]; then
    "$TMP/bin/DeepBench" "$TMP/pairs" "$T" "$B" > "$TMP/ll$r.json"
    /usr/bin/python3 bench/quality/deep_distance_torch.py bench "$TMP/pairs" "$T" "$B" > "$TMP/pt$r.json"
  else
    /usr/bin/python3 bench/quality/deep_distance_torch.py bench "$TMP/pairs" "$T" "$B" > "$TMP/pt$r.json"
    "$TMP/bin/DeepBench" "$TMP/pairs" "$T" "$B" > "$TMP/ll$r.json"
  fi
  r=$((r + 1))
done
/usr/bin/python3 - "$TMP" "$ROUNDS" <<'PY'
import json, sys, os
t, rounds = sys.argv[1], int(sys.argv[2])
for r in range(1, rounds + 1):
    ll = json.load(open(os.path.join(t, f"ll{r}.json")))
    pt = json.load(open(os.path.join(t, f"pt{r}.json")))
    rel = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(ll["distances"], pt["distances"]))
    print(f"round {r}: {ll['pairs']} pairs, batch {ll['batch']}, threads {ll['threads']}/{pt['threads']}: "
          f"LayerLens {ll['pairs_per_second']:.2f} pairs/s ({ll['cpu_seconds']:.1f} CPU s), "
          f"PyTorch {pt['torch']} {pt['pairs_per_second']:.2f} pairs/s ({pt['cpu_seconds']:.1f} CPU s), "
          f"ratio {ll['pairs_per_second'] / pt['pairs_per_second']:.2f}x (by CPU time {pt['cpu_seconds'] / ll['cpu_seconds']:.2f}x), "
          f"max relative difference of the distances {rel:.1e}")
PY
uptime
