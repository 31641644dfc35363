using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Readout;

/// <summary>
/// PLS regression (PLS2, NIPALS, scale=False), step for step as scikit-learn's PLSRegression does it — including its
/// power iteration with tol 1e-6 and max_iter 500 — because the stopping rule, not only the maths, fixes the weights
/// for multi-target data, and Brain-Score's neural predictivity is defined by that implementation.
/// </summary>
public static class PlsRegression
{
    public static PlsModel Fit(Tensor x, Tensor y, int components = 25, string what = "pls")
    {
        ReadoutTensors.Init();
        using var scope = NewDisposeScope();
        var (X, Y) = ReadoutTensors.Prepare(x, y, what);
        long n = X.shape[0], d = X.shape[1], t = Y.shape[1];
        if (components < 1 || components > Math.Min(n, d))
            throw new LayerLensException($"{what}: {components} components need at least that many samples and features (have {n} samples, {d} features)", ErrorKind.BadInput);
        var xMean = X.mean(new long[] { 0 });
        var yMean = Y.mean(new long[] { 0 });
        var Xk = X - xMean;
        var Yk = Y - yMean;
        var W = new List<Tensor>(); var P = new List<Tensor>(); var Q = new List<Tensor>();
        const double eps = 2.220446049250313e-16;
        for (int k = 0; k < components; k++)
        {
            var mask = (Yk.abs() < 10 * eps).all(0);
            if (mask.any().ToBoolean()) Yk = Yk.masked_fill(mask.unsqueeze(0), 0.0);
            var w = PowerMethod(Xk, Yk, eps);
            if (w is null) break; // Y residual is constant: scikit-learn stops adding components here too
            var (xw, yw) = w.Value;
            // svd_flip_1d: the largest-magnitude x weight is made positive.
            var sign = xw[xw.abs().argmax()].sign();
            xw = xw * sign; yw = yw * sign;
            var xs = Xk.mv(xw);
            var ss = xs.dot(xs);
            var xl = Xk.T.mv(xs) / ss;
            Xk = Xk - outer(xs, xl);
            var yl = Yk.T.mv(xs) / ss;
            Yk = Yk - outer(xs, yl);
            W.Add(xw); P.Add(xl); Q.Add(yl);
        }
        var Wm = stack(W, 1); var Pm = stack(P, 1); var Qm = stack(Q, 1);
        var rotations = Wm.mm(linalg.pinv(Pm.T.mm(Wm)));
        var coef = rotations.mm(Qm.T);
        return new PlsModel(coef.MoveToOuterDisposeScope(), xMean.MoveToOuterDisposeScope(), yMean.MoveToOuterDisposeScope(), W.Count);
    }

    static (Tensor, Tensor)? PowerMethod(Tensor X, Tensor Y, double eps, int maxIter = 500, double tol = 1e-6)
    {
        long t = Y.shape[1];
        var colHas = (Y.abs() > eps).any(0);
        var first = nonzero(colHas);
        if (first.shape[0] == 0) return null;
        var yScore = Y[TensorIndex.Colon, TensorIndex.Single(first[0, 0].ToInt64())];
        Tensor? old = null;
        Tensor xw = null!, yw = null!;
        for (int i = 0; i < maxIter; i++)
        {
            xw = X.T.mv(yScore) / yScore.dot(yScore);
            xw = xw / (xw.dot(xw).sqrt() + eps);
            var xScore = X.mv(xw);
            yw = Y.T.mv(xScore) / xScore.dot(xScore);
            yScore = Y.mv(yw) / (yw.dot(yw) + eps);
            if (t == 1) break;
            if (old is not null)
            {
                var diff = xw - old;
                if (diff.dot(diff).ToDouble() < tol) break;
            }
            old = xw;
        }
        return (xw, yw);
    }
}

/// <summary>A fitted PLS readout: predictions are (X − mean) · coef + mean(Y), as scikit-learn's predict.</summary>
public sealed class PlsModel : IFittedReadout
{
    public Tensor Coef { get; }
    public Tensor XMean { get; }
    public Tensor YMean { get; }
    public int Components { get; }

    internal PlsModel(Tensor coef, Tensor xMean, Tensor yMean, int components)
    { Coef = coef; XMean = xMean; YMean = yMean; Components = components; }

    public Tensor Predict(Tensor x)
    {
        using var scope = NewDisposeScope();
        return ((x.to_type(ScalarType.Float64) - XMean).mm(Coef) + YMean).MoveToOuterDisposeScope();
    }

    public void Dispose() { Coef.Dispose(); XMean.Dispose(); YMean.Dispose(); }
}
