#!/bin/sh
# Readout benchmark: LayerLens ridge (alpha search) and PLS against scikit-learn on the same data, same machine, same run.
# Usage: bench/readout/run.sh [N D TARGETS [PLS_STIMULI PLS_FEATURES PLS_NEUROIDS]]
# The issue's sizes: 10000 4096 1 (and 256), PLS 3200 1000 256.
set -e
cd "$(dirname "$0")/../.."
# OpenBLAS for both sides: without it Debian's numpy falls back to the reference BLAS, which would flatter LayerLens.
scripts/install-test-deps.sh
N=${1:-10000}; D=${2:-4096}; T=${3:-1}
OUT=$(mktemp -d)
OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/readout/reference_sklearn.py "$OUT" "$N" "$D" "$T" $4 $5 $6
dotnet run -c Release --project bench/readout/ReadoutBench -- "$OUT" 2
# The same with libtorch's own BLAS/LAPACK (MKL in its x86-64 builds) instead of OpenBLAS.
LAYERLENS_LINALG=torch dotnet run -c Release --project bench/readout/ReadoutBench -- "$OUT" 2
rm -rf "$OUT"
