#!/usr/bin/python3
"""Converts LPIPS's learned linear-layer weights (a .pth state dict with lin0..linK.model.1.weight of shape
[1, C, 1, 1], as richzhang/PerceptualSimilarity ships them) into the channel-weights JSON that an `lpips:`
baseline of `layerlens iqa` reads (docs/iqa.md):

    /usr/bin/python3 scripts/lpips_weights_to_json.py alex.pth OUT.json LAYER0 LAYER1 ...

LAYERk names the tapped layer of your exported network that feeds linK (see `layerlens layers MODEL`).
"""
import json
import os
import sys

import torch

src, out, layers = sys.argv[1], sys.argv[2], sys.argv[3:]
state = torch.load(src, map_location="cpu")
keys = sorted((k for k in state if k.startswith("lin") and k.endswith(".weight")), key=lambda k: int(k[3:k.index(".")]))
if len(keys) != len(layers):
    sys.exit(f"{src} has {len(keys)} linear layers ({', '.join(keys)}) but {len(layers)} layer names were given")
weights = {name: [float(v) for v in state[k].flatten()] for name, k in zip(layers, keys)}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump({"layers": weights}, f)
os.replace(tmp, out)
print(f"wrote {out}: " + ", ".join(f"{n} ({len(w)} channels)" for n, w in weights.items()))
