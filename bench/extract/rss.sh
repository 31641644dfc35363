#!/bin/sh
# Peak RSS of `layerlens extract` against the number of images, same model and layers: the images are
# make_inputs.py's set, hard-linked (cycled when the set has fewer images than asked for).
# Usage: bench/extract/rss.sh WORKDIR MODEL.onnx "EXTRA EXTRACT OPTIONS" [COUNTS="1000 10000"]
set -eu
W=$1; M=$2; X=$3; COUNTS=${4:-"1000 10000"}
HERE=$(cd "$(dirname "$0")" && pwd)
CLI=${CLI:-"$HERE/../../src/LayerLens.Cli/bin/Release/net10.0/LayerLens.Cli.dll"}
[ -f "$CLI" ] || CLI="$HERE/../../src/LayerLens.Cli/bin/Debug/net10.0/LayerLens.Cli.dll"
M_IMAGES=$(ls "$W/images" | wc -l)
for n in $COUNTS; do
  D="$W/rss$n"; rm -rf "$D" "$W/rss$n.h5" "$W/rss$n.h5.parts"; mkdir -p "$D"
  i=0
  while [ $i -lt "$n" ]; do
    ln -f "$W/images/$(printf "%05d.jpg" $((i % M_IMAGES)))" "$D/$(printf "%05d.jpg" $i)"; i=$((i + 1))
  done
  # shellcheck disable=SC2086
  /usr/bin/time -v dotnet "$CLI" extract "$M" --images "$D" $X --reduce gap --out "$W/rss$n.h5" > "$W/rss$n.out" 2> "$W/rss$n.time"
  echo "layerlens $n images: $(grep 'Elapsed (wall' "$W/rss$n.time" | awk '{print $NF}') wall, peak RSS $(grep 'Maximum resident' "$W/rss$n.time" | awk '{print $NF}') KB"
done
