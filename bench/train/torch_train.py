#!/usr/bin/python3
"""PyTorch side of the training benchmark (bench/train/run.sh).

torchvision's resnet18 (random weights, seed 0) with its batch norms folded into the convolutions, which is the
graph LayerLens imports from the eval-mode ONNX export, and fc replaced by a 512 -> 1 regression head. Everything is
trained: AdamW (lr 1e-3, weight decay 1e-4), gradient-norm clip 5, MSE on standardised targets, batch 32, random
[0, 1] images. One warm-up step, then STEPS timed steps (forward, loss, backward, clip, update).

    /usr/bin/python3 bench/train/torch_train.py --threads 2 --batch 32 --size 224 --steps 3 --json out.json
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from resnet18_torch import build_model, peak_rss_mb  # noqa: E402


def folded_resnet18():
    m = build_model()
    m.conv1 = fuse_conv_bn_eval(m.conv1, m.bn1)
    m.bn1 = torch.nn.Identity()
    for layer in (m.layer1, m.layer2, m.layer3, m.layer4):
        for block in layer:
            block.conv1 = fuse_conv_bn_eval(block.conv1, block.bn1)
            block.bn1 = torch.nn.Identity()
            block.conv2 = fuse_conv_bn_eval(block.conv2, block.bn2)
            block.bn2 = torch.nn.Identity()
            if block.downsample is not None:
                block.downsample = torch.nn.Sequential(fuse_conv_bn_eval(block.downsample[0], block.downsample[1]))
    m.fc = torch.nn.Linear(512, 1)
    return m.train()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--json")
    p.add_argument("--profile", type=int, default=0)
    p.add_argument("--channels-last", type=int, default=0, help="1: model and batch in torch.channels_last (not the default)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model = folded_resnet18()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(a.batch, 3, a.size, a.size, generator=g)
    y = torch.rand(a.batch, generator=g)
    y = (y - y.mean()) / y.std(unbiased=False)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    times, cpu, losses = [], [], []
    for step in range(a.warmup + a.steps):
        c0, t0 = time.process_time(), time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x).flatten(), y)
        c1 = time.process_time()
        loss.backward()
        c2 = time.process_time()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        c3 = time.process_time()
        opt.step()
        c4 = time.process_time()
        if a.profile:
            print(f"step {step}: forward {c1 - c0:.2f} s, backward {c2 - c1:.2f} s, clip {c3 - c2:.2f} s, update {c4 - c3:.2f} s (CPU)")
        losses.append(float(loss))
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    summary = {
        "side": "pytorch",
        "threads": torch.get_num_threads(),
        "channels_last": bool(a.channels_last),
        "batch": a.batch,
        "size": a.size,
        "step_seconds": times,
        "step_seconds_mean": statistics.mean(times),
        "step_seconds_median": statistics.median(times),
        "images_per_second": a.batch / statistics.mean(times),
        "cpu_seconds_per_step": cpu,
        "trained_values": sum(p.numel() for p in params),
        "train_loss": losses,
        "peak_rss_mb": peak_rss_mb(),
        "torch_version": torch.__version__,
    }
    text = json.dumps(summary, indent=2)
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            f.write(text)
        os.replace(a.json + ".tmp", a.json)
    print(text)


if __name__ == "__main__":
    main()
