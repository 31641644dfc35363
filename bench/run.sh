#!/usr/bin/env bash
# ResNet-18 throughput and peak memory: LayerLens against PyTorch eager, same weights, same machine, same run.
#
#   bench/run.sh                      # defaults below; ~5-10 minutes on 2 cores
#   THREADS=4 ROUNDS=3 bench/run.sh   # any of the variables below can be overridden
#
# Each configuration runs in its own process so that its peak RSS (VmHWM) is its own. The two sides alternate
# within each round (order flipped every round), so background load drifts onto both alike. Results:
# $OUT/results.json and a table on stdout. Needs Debian's python3-torch and python3-torchvision.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
THREADS="${THREADS:-2}"
BATCH="${BATCH:-32}"
SIZE="${SIZE:-224}"
WARMUP="${WARMUP:-1}"
ITERS="${ITERS:-3}"
ROUNDS="${ROUNDS:-2}"
OUT="${OUT:-$ROOT/bench/results}"
WORK="${WORK:-${TMPDIR:-/tmp}/layerlens-bench}"
PY=/usr/bin/python3
REF="$ROOT/bench/reference/resnet18_torch.py"
DLL="$ROOT/bench/LayerLens.Bench/bin/Release/net10.0/LayerLens.Bench.dll"

mkdir -p "$OUT" "$WORK"
# One thread pool per side, sized by the benchmark itself; stray OpenMP settings would skew one side only.
unset OMP_NUM_THREADS MKL_NUM_THREADS

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  dotnet build "$ROOT/bench/LayerLens.Bench/LayerLens.Bench.csproj" -c Release -v q -nologo >/dev/null
fi
MODEL="$WORK/resnet18.onnx"
[[ -f "$MODEL" ]] || "$PY" "$REF" export --out "$MODEL" --size "$SIZE" >/dev/null

common=(--threads "$THREADS" --batch "$BATCH" --size "$SIZE" --warmup "$WARMUP" --iters "$ITERS")
run_torch() { "$PY" "$REF" bench --mode "$1" "${common[@]}" --json "$WORK/pytorch-$1-r$2.json" >/dev/null; }
run_ll() { dotnet "$DLL" --model "$MODEL" --mode "$1" "${common[@]}" --json "$WORK/layerlens-$1-r$2.json" >/dev/null; }

rm -f "$WORK"/pytorch-*.json "$WORK"/layerlens-*.json
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in outputs layers; do
    echo "round $r/$ROUNDS, $mode ..." >&2
    if (( r % 2 == 1 )); then run_torch "$mode" "$r"; run_ll "$mode" "$r"
    else run_ll "$mode" "$r"; run_torch "$mode" "$r"; fi
  done
done

"$PY" - "$WORK" "$OUT/results.json" "$THREADS" <<'PYEOF'
import glob, json, os, platform, statistics, subprocess, sys, datetime
work, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = {}
for path in sorted(glob.glob(os.path.join(work, "*-r*.json"))):
    with open(path) as f:
        r = json.load(f)
    runs.setdefault((r["side"], r["mode"]), []).append(r)

def summarise(rs):
    secs = [s for r in rs for s in r["seconds"]]
    batch = rs[0]["batch"]
    return {
        "images_per_second_median": batch / statistics.median(secs),
        "images_per_second_best": batch / min(secs),
        "cpu_seconds_per_batch_median": statistics.median([c for r in rs for c in r["cpu_seconds"]]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
        "tapped_per_run": rs[0]["tapped_per_run"],
        "threads": rs[0]["threads"],
        "logits_sum": rs[0]["logits_sum"],
        "seconds": secs,
    }

def cpu_model():
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()

def mem_gb():
    with open("/proc/meminfo") as f:
        return round(int(f.readline().split()[1]) / 1024 / 1024, 1)

res = {k[0] + "_" + k[1]: summarise(v) for k, v in runs.items()}
ratios = {}
for mode in ("outputs", "layers"):
    ll, pt = res[f"layerlens_{mode}"], res[f"pytorch_{mode}"]
    ratios[f"{mode}_speed_median"] = ll["images_per_second_median"] / pt["images_per_second_median"]
    ratios[f"{mode}_speed_best"] = ll["images_per_second_best"] / pt["images_per_second_best"]
    # CPU seconds per batch: robust to other jobs taking the cores, which wall time is not.
    ratios[f"{mode}_speed_cpu_time"] = pt["cpu_seconds_per_batch_median"] / ll["cpu_seconds_per_batch_median"]
ratios["layerlens_peak_layers_over_outputs"] = res["layerlens_layers"]["peak_rss_mb"] / res["layerlens_outputs"]["peak_rss_mb"]
ratios["pytorch_peak_layers_over_outputs"] = res["pytorch_layers"]["peak_rss_mb"] / res["pytorch_outputs"]["peak_rss_mb"]
with open("/proc/loadavg") as f:
    load = f.read().split()[:3]
doc = {
    "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    "machine": {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "memory_gb": mem_gb(), "load_average_at_end": load},
    "threads": threads,
    "results": res,
    "ratios": ratios,
}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
os.replace(tmp, out)

print(f"CPU s/batch (median): LayerLens {res['layerlens_outputs']['cpu_seconds_per_batch_median']:.2f} / {res['layerlens_layers']['cpu_seconds_per_batch_median']:.2f}, "
      f"PyTorch {res['pytorch_outputs']['cpu_seconds_per_batch_median']:.2f} / {res['pytorch_layers']['cpu_seconds_per_batch_median']:.2f} (outputs / every layer)")
print(f"{doc['machine']['cpu_model']}, {doc['machine']['cpus']} CPUs, {threads} threads, load {' '.join(load)}")
print(f"{'':22}{'LayerLens':>12}{'PyTorch':>12}{'ratio':>8}   (images/s, median; [best]; (by CPU time))")
for mode, label in (("outputs", "(a) outputs only"), ("layers", "(b) every layer")):
    ll, pt = res[f"layerlens_{mode}"], res[f"pytorch_{mode}"]
    print(f"{label:22}{ll['images_per_second_median']:12.2f}{pt['images_per_second_median']:12.2f}"
          f"{ratios[mode + '_speed_median']:8.2f}x  [{ratios[mode + '_speed_best']:.2f}x]  ({ratios[mode + '_speed_cpu_time']:.2f}x)")
print(f"{'peak RSS (MB)':22}{'(a)':>12}{'(b)':>12}{'(b)/(a)':>8}")
for side in ("layerlens", "pytorch"):
    a, b = res[f"{side}_outputs"]["peak_rss_mb"], res[f"{side}_layers"]["peak_rss_mb"]
    print(f"{side:22}{a:12.0f}{b:12.0f}{b / a:8.2f}")
print(f"wrote {out}")
PYEOF
