"""scikit-learn side of the readout benchmark (Debian python3-sklearn), and the data both sides use.

    /usr/bin/python3 bench/readout/reference_sklearn.py OUT_DIR N D TARGETS [PLS_STIMULI PLS_FEATURES PLS_NEUROIDS]

Writes OUT_DIR/x.npy, y.npy (ridge data), then times 5-fold RidgeCV (StandardScaler + RidgeCV, 30 alphas
logspace 1e-3..1e6, alpha_per_target) and writes OUT_DIR/sklearn_ridge.json with the seconds and chosen alphas.
With the PLS sizes it also writes xp.npy, yp.npy and times 10 splits of PLSRegression(25, scale=False).
"""
import json
import sys
import time

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

out, n, d, t = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
X = rng.normal(size=(n, d)) @ (np.eye(d) + 0.1 * rng.normal(size=(d, d)))
Y = X[:, : min(d, 64)] @ rng.normal(size=(min(d, 64), t)) + rng.normal(size=(n, t)) * rng.uniform(1, 200, t)
np.save(f"{out}/x.npy", X)
np.save(f"{out}/y.npy", Y)
alphas = np.logspace(-3, 6, 30)
start = time.perf_counter()
chosen = []
for train, test in KFold(5).split(X):
    sc = StandardScaler().fit(X[train])
    m = RidgeCV(alphas=alphas, alpha_per_target=True).fit(sc.transform(X[train]), Y[train])
    m.predict(sc.transform(X[test]))
    chosen.append(np.atleast_1d(m.alpha_).tolist())
ridge_s = time.perf_counter() - start
res = dict(ridge_seconds=ridge_s, alphas=chosen)

if len(sys.argv) > 5:
    s, f, k = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    Xp = rng.normal(size=(s, f))
    Yp = Xp[:, :50] @ rng.normal(size=(50, k)) + 5 * rng.normal(size=(s, k))
    np.save(f"{out}/xp.npy", Xp)
    np.save(f"{out}/yp.npy", Yp)
    start = time.perf_counter()
    for split in range(10):
        idx = np.random.default_rng(split).permutation(s)
        tr, te = idx[: int(0.9 * s)], idx[int(0.9 * s):]
        pred = PLSRegression(25, scale=False).fit(Xp[tr], Yp[tr]).predict(Xp[te])
        if split == 0:
            first_pred = pred
    res["pls_seconds"] = time.perf_counter() - start
    # Saved after timing: split 0's permutation and predictions, for LayerLens's agreement check on the same split.
    np.save(f"{out}/pls_pred0.npy", first_pred)
    np.save(f"{out}/pls_perm0.npy", np.random.default_rng(0).permutation(s).astype(np.float64))
json.dump(res, open(f"{out}/sklearn.json", "w"))
print(json.dumps({k: v for k, v in res.items() if k != "alphas"}))
