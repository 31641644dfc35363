#!/usr/bin/env bash
# Grad-CAM maps per second: LayerLens's CamEngine against the same formula in PyTorch eager (Debian python3-torch),
# same ResNet-18 weights, same input batch, same machine, same run. Kept short (the machine is shared):
#
#   bench/cam/run.sh                          # batch 8 at 224x224, 1 warm-up + 3 timed batches, 2 rounds
#   BATCH=16 ROUNDS=3 bench/cam/run.sh
#
# Sides alternate within each round (order flipped every round). Each side runs in its own process. The maps of
# the two sides are compared (max |difference|) so that the timed work is the same computation. Results:
# $OUT/cam.json and a table on stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
THREADS="${THREADS:-2}"
BATCH="${BATCH:-8}"
WARMUP="${WARMUP:-1}"
ITERS="${ITERS:-3}"
ROUNDS="${ROUNDS:-2}"
OUT="${OUT:-$ROOT/bench/results}"
WORK="${WORK:-${TMPDIR:-/tmp}/layerlens-bench-cam}"
PY=/usr/bin/python3
unset OMP_NUM_THREADS MKL_NUM_THREADS
mkdir -p "$OUT" "$WORK"

dotnet build -c Release "$ROOT/bench/cam/CamBench" -o "$WORK/bin" -v q -nologo >/dev/null
MODEL="$WORK/resnet18.onnx"
[[ -f "$MODEL" ]] || "$PY" "$ROOT/bench/reference/resnet18_torch.py" export --out "$MODEL" --size 224 >/dev/null
"$PY" "$ROOT/bench/cam/gradcam_torch.py" input --out "$WORK/input.npy" --batch "$BATCH"

rm -f "$WORK"/r*-*.json
run_ll() { "$WORK/bin/CamBench" "$MODEL" "$WORK/input.npy" "$THREADS" "$WARMUP" "$ITERS" "$WORK/maps-layerlens.npy" > "$WORK/r$1-layerlens.json"; }
run_py() { "$PY" "$ROOT/bench/cam/gradcam_torch.py" bench --input "$WORK/input.npy" --mode "$2" --threads "$THREADS" \
             --warmup "$WARMUP" --iters "$ITERS" --maps "$WORK/maps-$2.npy" --json "$WORK/r$1-pytorch-$2.json" >/dev/null; }
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r/$ROUNDS ..." >&2
  if (( r % 2 == 1 )); then run_py "$r" leaf; run_ll "$r"; run_py "$r" full
  else run_py "$r" full; run_ll "$r"; run_py "$r" leaf; fi
done

"$PY" - "$WORK" "$OUT/cam.json" <<'PYEOF'
import glob, json, os, statistics, sys, datetime
import numpy as np
work, out = sys.argv[1], sys.argv[2]
runs = {}
for path in sorted(glob.glob(os.path.join(work, "r*-*.json"))):
    r = json.load(open(path))
    runs.setdefault(r["side"], []).append(r)
ll = np.load(os.path.join(work, "maps-layerlens.npy"))
summary = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "sides": {}}
for side, rs in runs.items():
    secs = [s for r in rs for s in r["seconds"]]
    cpu = [s for r in rs for s in r["cpu_seconds"]]
    batch = rs[0]["batch"]
    summary["sides"][side] = dict(maps_per_second_median=batch / statistics.median(secs), maps_per_second_best=batch / min(secs),
                                  cpu_seconds_per_batch_median=statistics.median(cpu), peak_rss_mb=max(r["peak_rss_mb"] for r in rs),
                                  threads=rs[0]["threads"], batch=batch, seconds=secs)
for mode in ("leaf", "full"):
    p = os.path.join(work, f"maps-{mode}.npy")
    if os.path.exists(p):
        summary["sides"]["pytorch-" + mode]["max_abs_map_difference_vs_layerlens"] = float(np.abs(np.load(p) - ll).max())
s = summary["sides"]
for mode in ("leaf", "full"):
    key = "pytorch-" + mode
    if key in s:
        summary[f"ratio_vs_{mode}"] = s["layerlens"]["maps_per_second_median"] / s[key]["maps_per_second_median"]
        summary[f"ratio_vs_{mode}_cpu"] = s[key]["cpu_seconds_per_batch_median"] / s["layerlens"]["cpu_seconds_per_batch_median"]
json.dump(summary, open(out + ".tmp", "w"), indent=1)
os.replace(out + ".tmp", out)
print(f"{'side':<16} {'maps/s':>8} {'best':>8} {'cpu s/batch':>12} {'peak MB':>8} {'max|diff|':>10}")
for side, v in s.items():
    print(f"{side:<16} {v['maps_per_second_median']:8.2f} {v['maps_per_second_best']:8.2f} {v['cpu_seconds_per_batch_median']:12.2f} "
          f"{v['peak_rss_mb']:8.0f} {v.get('max_abs_map_difference_vs_layerlens', 0):10.2e}")
for mode in ("leaf", "full"):
    if f"ratio_vs_{mode}" in summary:
        print(f"LayerLens / PyTorch ({mode}): {summary[f'ratio_vs_{mode}']:.2f}x wall, {summary[f'ratio_vs_{mode}_cpu']:.2f}x by CPU time")
PYEOF
