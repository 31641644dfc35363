"""Writes the SSIM benchmark's inputs and times scikit-image on them (the reference side).

    /usr/bin/python3 bench/quality/make_pairs.py OUT_DIR N

OUT_DIR gets pair_K_ref.npy / pair_K_dist.npy (uint8 384x512x3): scikit-image's astronaut, chelsea and coffee
photographs resized to 512x384 with Gaussian noise (seed 0) as the distortion; prints one JSON line with
scikit-image's pairs per second over the same pairs (structural_similarity, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255, channel_axis=-1).
"""
import json
import os
import sys
import time

import numpy as np
import skimage
from skimage import data, transform
from skimage.metrics import structural_similarity

out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
photos = [data.astronaut(), data.chelsea(), data.coffee()]
pairs = []
for k in range(n):
    ref = transform.resize(photos[k % 3], (384, 512), anti_aliasing=True, preserve_range=True)
    ref = np.clip(np.rint(ref), 0, 255).astype(np.uint8)
    dist = np.clip(np.rint(ref + rng.normal(0, 5 + 3 * k, ref.shape)), 0, 255).astype(np.uint8)
    np.save(os.path.join(out, f"pair_{k}_ref.npy"), ref)
    np.save(os.path.join(out, f"pair_{k}_dist.npy"), dist)
    pairs.append((ref, dist))
values = []
start = time.perf_counter()
for ref, dist in pairs:
    values.append(structural_similarity(ref, dist, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                        data_range=255, channel_axis=-1))
elapsed = time.perf_counter() - start
print(json.dumps({"tool": f"scikit-image {skimage.__version__}", "pairs": n, "seconds": elapsed,
                  "pairs_per_second": n / elapsed, "ssim": values}))
