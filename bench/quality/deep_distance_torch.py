#!/usr/bin/python3
"""PyTorch side of the deep-distance benchmark (bench/quality/run_deep.sh, docs/benchmarks.md).

    /usr/bin/python3 bench/quality/deep_distance_torch.py prepare DIR REFS PER_REF
    /usr/bin/python3 bench/quality/deep_distance_torch.py bench DIR THREADS BATCH

`prepare` writes torchvision's ResNet-18 (random weights, seed 0) as DIR/resnet18.onnx (opset 13, dynamic batch,
384x512 input), and TID2013-sized pairs: REFS references (scikit-image's astronaut, chelsea, coffee, ...
resized to 512x384) with PER_REF distorted versions each (Gaussian noise of rising strength, seed 0), as
DIR/ref_R.npy and DIR/dist_R_K.npy (uint8, 384x512x3).

`bench` computes, for every pair, the LPIPS-style deep distance over 5 layers of the same network (the stem's
ReLU and the outputs of layer1..layer4): per layer each spatial feature vector divided by its norm across
channels (+1e-10), squared difference summed over channels and averaged over space, in float64; the distance
is the sum over layers. Each reference goes through the network once; its distorted images go in batches of
BATCH. Input: pixels / 255, ImageNet mean and std. Prints one JSON line with pairs/s and all distances.
"""
import glob
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from resnet18_torch import build_model, export_onnx  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def prepare(out, refs, per_ref):
    from skimage import data, transform
    os.makedirs(out, exist_ok=True)
    export_onnx(os.path.join(out, "resnet18.onnx"), height=384, width=512)
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(0)
    for r in range(refs):
        ref = transform.resize(photos[r % len(photos)], (384, 512), anti_aliasing=True, preserve_range=True)
        ref = np.clip(np.rint(ref), 0, 255).astype(np.uint8)
        np.save(os.path.join(out, f"ref_{r}.npy"), ref)
        for k in range(per_ref):
            dist = np.clip(np.rint(ref + rng.normal(0, 3 + 2 * k, ref.shape)), 0, 255).astype(np.uint8)
            np.save(os.path.join(out, f"dist_{r}_{k}.npy"), dist)


def features(model, x):
    """The 5 tapped activations of a batch, as in LayerLens's graph (ReLU after the stem, layer1..layer4)."""
    x = model.relu(model.bn1(model.conv1(x)))
    out = [x]
    x = model.maxpool(x)
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
        out.append(x)
    return out


def lpips_terms(r, d):
    x = r.double().flatten(2)
    y = d.double().flatten(2)
    xn = x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10)
    yn = y / (y.square().sum(1, keepdim=True).sqrt() + 1e-10)
    return (xn - yn).square().mean(2).sum(1)


def prep(arrays):
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    return (x - MEAN) / STD


def bench(out, threads, batch):
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    model = build_model()
    refs = sorted(glob.glob(os.path.join(out, "ref_*.npy")), key=lambda p: int(p.split("_")[-1][:-4]))
    groups = []
    for rp in refs:
        r = int(rp.split("_")[-1][:-4])
        dists = sorted(glob.glob(os.path.join(out, f"dist_{r}_*.npy")), key=lambda p: int(p.split("_")[-1][:-4]))
        groups.append((np.load(rp), [np.load(p) for p in dists]))
    pairs = sum(len(d) for _, d in groups)
    values = []
    with torch.inference_mode():
        fr = features(model, prep([groups[0][0]]))  # warm-up
        features(model, prep(groups[0][1][:batch]))
        cpu0 = time.process_time()
        start = time.perf_counter()
        for ref, dists in groups:
            fr = features(model, prep([ref]))
            for i in range(0, len(dists), batch):
                fd = features(model, prep(dists[i:i + batch]))
                total = sum(lpips_terms(a, b) for a, b in zip(fr, fd))
                values.extend(total.tolist())
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    print(json.dumps({"side": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "batch": batch,
                      "pairs": pairs, "seconds": elapsed, "cpu_seconds": cpu, "pairs_per_second": pairs / elapsed,
                      "distances": values}))


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
