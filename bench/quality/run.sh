#!/bin/sh
# SSIM benchmark: LayerLens vs scikit-image on the same 512x384 RGB pairs, measured in the same run.
# Usage: bench/quality/run.sh [N]   (from the repository root; needs Debian's python3-skimage)
set -eu
N=${1:-24}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
dotnet build -c Release bench/quality/SsimBench -o "$TMP/bin" >/dev/null
/usr/bin/python3 bench/quality/make_pairs.py "$TMP/pairs" "$N" > "$TMP/skimage.json"
"$TMP/bin/SsimBench" "$TMP/pairs" "$N" float64 > "$TMP/ll64.json"
"$TMP/bin/SsimBench" "$TMP/pairs" "$N" float64 1 > "$TMP/ll64t1.json"
"$TMP/bin/SsimBench" "$TMP/pairs" "$N" float32 > "$TMP/ll32.json"
"$TMP/bin/SsimBench" "$TMP/pairs" "$N" float32 1 > "$TMP/ll32t1.json"
/usr/bin/python3 - "$TMP" <<'PY'
import json, sys, os
t = sys.argv[1]
sk = json.load(open(os.path.join(t, "skimage.json")))
for name in ("ll64.json", "ll64t1.json", "ll32.json", "ll32t1.json"):
    ll = json.load(open(os.path.join(t, name)))
    diff = max(abs(a - b) for a, b in zip(sk["ssim"], ll["ssim"]))
    print(f"{ll['precision']}: LayerLens {ll['pairs_per_second']:.1f} pairs/s (batched {ll['batched_pairs_per_second']:.1f}), "
          f"{sk['tool']} {sk['pairs_per_second']:.1f} pairs/s, ratio {ll['pairs_per_second'] / sk['pairs_per_second']:.2f}x "
          f"(batched {ll['batched_pairs_per_second'] / sk['pairs_per_second']:.2f}x), max |diff| {diff:.2e}, torch threads {ll['threads']}")
PY
