#!/usr/bin/python3
"""PyTorch side of the Grad-CAM benchmark (bench/cam/run.sh, docs/benchmarks.md).

    /usr/bin/python3 bench/cam/gradcam_torch.py input --out x.npy --batch 8
    /usr/bin/python3 bench/cam/gradcam_torch.py bench --input x.npy --mode leaf --threads 2 --json out.json

Same ResNet-18 and weights as bench/reference/resnet18_torch.py (torchvision, random weights, seed 0). Grad-CAM at
layer4 (the last residual block's output, 7 x 7 at 224 x 224), target the top-1 class's raw score, then the same
pipeline as LayerLens: w = mean of the gradient over positions, ReLU(sum_k w_k A_k), bilinear upsampling to the
input size (align_corners=False), per-map rescale (x - min) / (max - min + 1e-7).

Modes:
- leaf: weights frozen and layer4's output made a leaf by a forward hook, so the backward pass runs only through
  the head (what LayerLens does, and what a careful PyTorch user would write).
- full: pytorch-grad-cam's way: weights keep requires_grad, the backward pass runs through the whole network and
  fills every weight's .grad (timed for reference; LayerLens has no equivalent of this extra work).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from resnet18_torch import build_model, peak_rss_mb  # noqa: E402


def gradcam(model, x, mode):
    store = {}

    def hook(module, inputs, output):
        if mode == "leaf":
            output = output.detach().requires_grad_(True)
        else:
            output.retain_grad()
        store["a"] = output
        return output

    h = model.layer4.register_forward_hook(hook)
    try:
        logits = model(x)
    finally:
        h.remove()
    a = store["a"]
    cls = logits.argmax(1)
    score = logits.gather(1, cls[:, None]).sum()
    if mode == "leaf":
        g = torch.autograd.grad(score, a)[0]
    else:
        model.zero_grad(set_to_none=True)
        score.backward()
        g = a.grad
    with torch.no_grad():
        w = g.mean(dim=(2, 3), keepdim=True)
        cam = (w * a).sum(1).clamp(min=0)
        cam = F.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
        cam = cam - cam.amin(dim=(1, 2), keepdim=True)
        cam = cam / (cam.amax(dim=(1, 2), keepdim=True) + 1e-7)
    return cam, cls


def bench(args):
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model = build_model()
    if args.mode == "leaf":
        for p in model.parameters():
            p.requires_grad_(False)
    x = torch.from_numpy(np.load(args.input))
    times, cpu = [], []
    for it in range(args.warmup + args.iters):
        c0, t0 = time.process_time(), time.perf_counter()
        cam, cls = gradcam(model, x, args.mode)
        elapsed = time.perf_counter() - t0
        if it >= args.warmup:
            times.append(elapsed)
            cpu.append(time.process_time() - c0)
    if args.maps:
        np.save(args.maps, cam.numpy().astype(np.float32))
    median = statistics.median(times)
    summary = dict(side="pytorch-" + args.mode, threads=torch.get_num_threads(), batch=x.shape[0], size=x.shape[2],
                   seconds=times, cpu_seconds=cpu, maps_per_second=x.shape[0] / median,
                   classes=cls.tolist(), peak_rss_mb=peak_rss_mb(), torch_version=torch.__version__)
    text = json.dumps(summary)
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.json + ".tmp", args.json)
    print(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("input")
    i.add_argument("--out", required=True)
    i.add_argument("--batch", type=int, default=8)
    i.add_argument("--size", type=int, default=224)
    b = sub.add_parser("bench")
    b.add_argument("--input", required=True)
    b.add_argument("--mode", choices=["leaf", "full"], default="leaf")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--iters", type=int, default=3)
    b.add_argument("--json")
    b.add_argument("--maps")
    args = p.parse_args()
    if args.cmd == "input":
        g = torch.Generator().manual_seed(0)
        np.save(args.out, torch.randn(args.batch, 3, args.size, args.size, generator=g).numpy())
    else:
        bench(args)


if __name__ == "__main__":
    main()
