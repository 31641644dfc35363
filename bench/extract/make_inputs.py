#!/usr/bin/python3
"""Inputs for the extraction benchmark: a ResNet-18 ONNX graph and generated JPEGs (224x224 unless SIZE is given).

Run with Debian's python3-torch, python3-torchvision and python3-pil:
    /usr/bin/python3 bench/extract/make_inputs.py OUTDIR N [SIZE]
Writes OUTDIR/resnet18.onnx (torchvision architecture, random weights from seed 0, dynamic batch)
and OUTDIR/images/NNNNN.jpg (N seeded images: smooth colour fields plus noise, quality 90).
"""
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image

out, n = sys.argv[1], int(sys.argv[2])
size = int(sys.argv[3]) if len(sys.argv) > 3 else 224
os.makedirs(os.path.join(out, "images"), exist_ok=True)
onnx_path = os.path.join(out, "resnet18.onnx")
if not os.path.exists(onnx_path):
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), onnx_path, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
    torch.save(model.state_dict(), os.path.join(out, "resnet18.pt"))

rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
for i in range(n):
    path = os.path.join(out, "images", f"{i:05d}.jpg")
    if os.path.exists(path):
        continue
    a, b, c = rng.uniform(0, 255, 3), rng.uniform(-200, 200, 3), rng.uniform(-200, 200, 3)
    img = a + b * xx[..., None] + c * yy[..., None] + rng.normal(0, 20, (size, size, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
