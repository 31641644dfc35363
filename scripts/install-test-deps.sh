#!/usr/bin/env bash
# Installs what the test suite needs beyond the .NET SDK, from Debian's packages, when it is missing:
#   libonnx-testdata        ONNX's backend node tests (expected outputs for every operator)
#   python3-torch/-vision   PyTorch 1.13 to export reference networks and compute reference numbers
#   python3-onnx            to expose intermediate values of exported models to ONNX Runtime
#   python3-numpy/-scipy/-sklearn/-skimage/-h5py  reference implementations for fixtures and checks
#   libopenblas0-pthread    OpenBLAS: LayerLens's readouts use it when present (tests check it against libtorch),
#                           and numpy/scikit-learn use it instead of the reference BLAS in benchmarks
#   chromium                headless browser that opens the HTML reports and fails on console errors or broken images
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

packages=(libonnx-testdata libopenblas0-pthread python3-numpy python3-scipy python3-sklearn python3-skimage python3-torch
          python3-torchvision python3-onnx python3-h5py chromium)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-test-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-test-deps: not root and no sudo; install these Debian packages: ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-deps: done"
