#!/usr/bin/env bash
# Packs the CLI as a .NET tool into ./nupkg, installs it from that folder, and runs `layerlens --version` and
# one small command with the installed tool. CI passes --global (as the README's install instructions do);
# without it the tool goes into a temporary --tool-path so a local run leaves the user's global tools alone.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf nupkg
dotnet pack src/LayerLens.Cli -c Release -o nupkg -v quiet -nologo
pkg=$(ls nupkg/LayerLens.Cli.*.nupkg)
version=$(basename "$pkg" .nupkg); version=${version#LayerLens.Cli.}
echo "pack-smoke: built $pkg ($(du -m "$pkg" | cut -f1) MB)"

if [ "${1:-}" = "--global" ]; then
  dotnet tool uninstall --global LayerLens.Cli >/dev/null 2>&1 || true
  dotnet tool install --global --add-source ./nupkg --version "$version" LayerLens.Cli
  export PATH="$PATH:$HOME/.dotnet/tools"
  tool=layerlens
else
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  dotnet tool install --tool-path "$dir" --add-source ./nupkg --version "$version" LayerLens.Cli
  tool="$dir/layerlens"
fi

got=$("$tool" --version)
case "$got" in "$version"*) ;; *) echo "pack-smoke: layerlens --version printed '$got', expected $version" >&2; exit 1 ;; esac
out=$("$tool" layers src/LayerLens.Cli/Assets/tiny-resnet.onnx)
echo "$out" | head -3
echo "$out" | grep -q "17 layers" || { echo "pack-smoke: the installed tool did not list the demo model's 17 layers" >&2; exit 1; }
echo "pack-smoke: the installed tool runs (version $got)"
