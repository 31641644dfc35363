#!/bin/sh
# Extraction benchmark: LayerLens `extract` (all layers of a ResNet-18 graph, gap) against PyTorch
# forward hooks doing the same reduction, decoding included on both sides, in the same run.
# Peak RSS against image count: bench/extract/rss.sh.
# Usage: bench/extract/run.sh [WORKDIR] [N=2000] [THREADS=2] [BATCH=32]   (after `dotnet build -c Release src/LayerLens.Cli`)
set -eu
W=${1:-/tmp/layerlens-bench-extract}
N=${2:-2000}
T=${3:-2}
B=${4:-32}
HERE=$(cd "$(dirname "$0")" && pwd)
CLI="$HERE/../../src/LayerLens.Cli/bin/Release/net10.0/LayerLens.Cli.dll"
[ -f "$CLI" ] || CLI="$HERE/../../src/LayerLens.Cli/bin/Debug/net10.0/LayerLens.Cli.dll"
/usr/bin/python3 "$HERE/make_inputs.py" "$W" "$N"

rss() { grep 'Maximum resident' "$1" | awk '{print $NF}'; }
secs() { awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }

rm -f "$W/ll.h5"; rm -rf "$W/ll.h5.parts"
/usr/bin/time -v dotnet "$CLI" extract "$W/resnet18.onnx" --images "$W/images" --preset raw --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 \
  --reduce gap --batch "$B" --threads "$T" --out "$W/ll.h5" > "$W/ll.out" 2> "$W/ll.time"
/usr/bin/time -v /usr/bin/python3 "$HERE/pytorch_hooks.py" "$W" "$T" "$B" > "$W/pt.out" 2> "$W/pt.time"
ll_s=$(secs "$W/ll.time"); pt_s=$(secs "$W/pt.time")
echo "layerlens: $N images in ${ll_s}s wall (process total), peak RSS $(rss "$W/ll.time") KB"
echo "$(cat "$W/pt.out"), process wall ${pt_s}s, peak RSS $(rss "$W/pt.time") KB"
echo "ratio (pytorch wall / layerlens wall, whole processes): $(echo "$pt_s $ll_s" | awk '{printf "%.2f", $1/$2}')"
cpu() { awk -F': ' '/User time|System time/{s+=$2} END{print s}' "$1"; }
echo "cpu seconds: layerlens $(cpu "$W/ll.time"), pytorch $(cpu "$W/pt.time"); ratio pytorch/layerlens $(echo "$(cpu "$W/pt.time") $(cpu "$W/ll.time")" | awk '{printf "%.2f", $1/$2}')"
uptime
