#!/bin/sh
# Training throughput: LayerLens FineTuner (ResNet-18 ONNX graph, everything trained) against PyTorch training the
# same architecture (batch norm folded, as in the graph), batch 32, 224x224, same machine, same run, alternating.
# PyTorch runs in its default layout (NCHW) and, as a second reference, with channels_last.
# Usage: bench/train/run.sh [WORKDIR] [STEPS=3] [ROUNDS=1] [THREADS=2] [SIZE=224]
set -eu
W=${1:-/tmp/layerlens-bench-train}; STEPS=${2:-3}; ROUNDS=${3:-1}; T=${4:-2}; S=${5:-224}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$W"
unset OMP_NUM_THREADS MKL_NUM_THREADS
dotnet build "$HERE/TrainBench/TrainBench.csproj" -c Release -v q -nologo > /dev/null
DLL="$HERE/TrainBench/bin/Release/net10.0/TrainBench.dll"
[ -f "$W/resnet18.onnx" ] || /usr/bin/python3 "$HERE/../reference/resnet18_torch.py" export --out "$W/resnet18.onnx" --size "$S" > /dev/null
ll() { dotnet "$DLL" --model "$W/resnet18.onnx" --threads "$T" --size "$S" --steps "$STEPS" --epochs 2 --json "$W/layerlens-r$1.json" > /dev/null; }
pt() { /usr/bin/python3 "$HERE/torch_train.py" --threads "$T" --size "$S" --steps "$STEPS" --channels-last "$2" --json "$W/pytorch$2-r$1.json" > /dev/null; }
rm -f "$W"/*-r*.json
r=1
while [ $r -le "$ROUNDS" ]; do
  echo "round $r/$ROUNDS ..." >&2
  if [ $((r % 2)) -eq 1 ]; then pt $r 0; ll $r; pt $r 1; else pt $r 1; ll $r; pt $r 0; fi
  r=$((r + 1))
done
/usr/bin/python3 - "$W" <<'PY'
import glob, json, os, statistics, sys
w = sys.argv[1]
def load(prefix):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(w, prefix + "-r*.json")))]
ll, pt, ptcl = load("layerlens"), load("pytorch0"), load("pytorch1")
def ips(runs): return statistics.median(r["images_per_second"] for r in runs)
def cpu(runs, key): return statistics.median(c for r in runs for c in (r[key] if isinstance(r[key], list) else [r[key]]))
ll_cpu, pt_cpu, ptcl_cpu = cpu(ll, "cpu_seconds_per_step"), cpu(pt, "cpu_seconds_per_step"), cpu(ptcl, "cpu_seconds_per_step")
print(f"{'':28}{'images/s':>10}{'CPU s/step':>12}{'peak MB':>9}")
for name, runs, c in (("LayerLens FineTuner", ll, ll_cpu), ("PyTorch (NCHW, default)", pt, pt_cpu), ("PyTorch (channels_last)", ptcl, ptcl_cpu)):
    print(f"{name:28}{ips(runs):10.2f}{c:12.2f}{max(r['peak_rss_mb'] for r in runs):9.0f}")
print(f"ratio LayerLens / PyTorch default: {ips(ll) / ips(pt):.2f}x by wall time, {pt_cpu / ll_cpu:.2f}x by CPU time")
print(f"ratio LayerLens / PyTorch channels_last: {ips(ll) / ips(ptcl):.2f}x by wall time, {ptcl_cpu / ll_cpu:.2f}x by CPU time")
print(f"trained values: LayerLens {ll[0]['trained_values']} + head 513, PyTorch {pt[0]['trained_values']}; losses LayerLens {ll[0]['train_loss']}, PyTorch {pt[0]['train_loss']}")
PY
uptime
