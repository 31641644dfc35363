#!/usr/bin/python3
"""The PyTorch side of the extraction benchmark: forward hooks on every leaf module with the same
global-average-pool reduction, decoding included (PIL in DataLoader workers).

    /usr/bin/python3 bench/extract/pytorch_hooks.py OUTDIR THREADS BATCH
Prints one line: images, layers (hook calls per image), seconds, images/s.
"""
import os
import sys
import time

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image

out, threads, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
model = torchvision.models.resnet18().eval()
model.load_state_dict(torch.load(os.path.join(out, "resnet18.pt")))
files = sorted(os.listdir(os.path.join(out, "images")))
tf = T.Compose([T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


class Images(torch.utils.data.Dataset):
    def __len__(self):
        return len(files)

    def __getitem__(self, i):
        return tf(Image.open(os.path.join(out, "images", files[i])).convert("RGB"))


features = {}


def hook(name):
    def f(module, inputs, output):
        r = output.mean((2, 3)) if output.dim() == 4 else output.flatten(1)
        features.setdefault(name, []).append(r.numpy().copy())
    return f


calls = 0
for name, m in model.named_modules():
    if len(list(m.children())) == 0:
        m.register_forward_hook(hook(name))

loader = torch.utils.data.DataLoader(Images(), batch_size=batch, num_workers=threads)
start = time.perf_counter()
with torch.no_grad():
    for x in loader:
        model(x)
elapsed = time.perf_counter() - start
per_image = sum(len(v) for v in features.values()) / max(1, len(loader))
print(f"pytorch images={len(files)} hooks_per_batch={per_image:.0f} seconds={elapsed:.2f} images_per_s={len(files) / elapsed:.2f}")
