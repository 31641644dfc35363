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
        var X0 = X - xMean;
        var Yk = Y - yMean;
        // The deflated X is never formed: Xk = X0 − Σ xs_j xl_jᵀ is applied through the scores and loadings found so
        // far, and the power iteration works on the cross-products C = XkᵀYk [d, t] and G = YkᵀYk [t, t], which
        // deflation changes by rank-one updates (C −= ss·xl ylᵀ, G −= ss·yl ylᵀ). Each iteration then costs one
        // pass over X (for the x scores) instead of two, and no n×d matrix is rewritten per component.
        var C = X0.T.mm(Yk);
        var G = Yk.T.mm(Yk);
        var W = new List<Tensor>(); var P = new List<Tensor>(); var Q = new List<Tensor>(); var S = new List<Tensor>();
        Tensor? scores = null, loadings = null; // [n, k] and [d, k] of the components so far
        const double eps = 2.220446049250313e-16;
        for (int k = 0; k < components; k++)
        {
            var mask = (Yk.abs() < 10 * eps).all(0);
            if (mask.any().ToBoolean())
            {
                Yk = Yk.masked_fill(mask.unsqueeze(0), 0.0);
                C = C.masked_fill(mask.unsqueeze(0), 0.0);
                G = G.masked_fill(mask.unsqueeze(0), 0.0).masked_fill(mask.unsqueeze(1), 0.0);
            }
            Tensor XkMv(Tensor v) => scores is null ? X0.mv(v) : X0.mv(v) - scores.mv(loadings!.T.mv(v));
            var w = PowerMethod(Yk, C, G, XkMv, eps);
            if (w is null) break; // Y residual is constant: scikit-learn stops adding components here too
            var (xw, yw) = w.Value;
            // svd_flip_1d: the largest-magnitude x weight is made positive.
            var sign = xw[xw.abs().argmax()].sign();
            xw = xw * sign; yw = yw * sign;
            var xs = XkMv(xw);
            var ss = xs.dot(xs);
            var xl = (scores is null ? X0.T.mv(xs) : X0.T.mv(xs) - loadings!.mv(scores.T.mv(xs))) / ss;
            var yl = Yk.T.mv(xs) / ss;
            Yk = Yk - outer(xs, yl);
            C = C - outer(xl, yl) * ss;
            G = G - outer(yl, yl) * ss;
            W.Add(xw); P.Add(xl); Q.Add(yl); S.Add(xs);
            scores = stack(S, 1); loadings = stack(P, 1);
        }
        var Wm = stack(W, 1); var Pm = stack(P, 1); var Qm = stack(Q, 1);
        var rotations = Wm.mm(linalg.pinv(Pm.T.mm(Wm)));
        var coef = rotations.mm(Qm.T);
        return new PlsModel(coef.MoveToOuterDisposeScope(), xMean.MoveToOuterDisposeScope(), yMean.MoveToOuterDisposeScope(), W.Count);
    }

    /// <summary>
    /// scikit-learn's _get_first_singular_vectors_power_method on (Xk, Yk), with the y scores kept as Yk·v so that
    /// Xkᵀ y_score = C v and ‖y_score‖² = vᵀ G v.
    /// </summary>
    static (Tensor, Tensor)? PowerMethod(Tensor Y, Tensor C, Tensor G, Func<Tensor, Tensor> xMv, double eps, int maxIter = 500, double tol = 1e-6)
    {
        long t = Y.shape[1];
        var colHas = (Y.abs() > eps).any(0);
        var first = nonzero(colHas);
        if (first.shape[0] == 0) return null;
        // y_score = Y v; first the first column with a non-zero entry.
        var v = zeros(t, dtype: ScalarType.Float64);
        v[first[0, 0].ToInt64()] = 1.0;
        Tensor? old = null;
        Tensor xw = null!, yw = null!;
        for (int i = 0; i < maxIter; i++)
        {
            xw = C.mv(v) / v.dot(G.mv(v));
            xw = xw / (xw.dot(xw).sqrt() + eps);
            var xScore = xMv(xw);
            yw = C.T.mv(xw) / xScore.dot(xScore);
            v = yw / (yw.dot(yw) + eps);
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
