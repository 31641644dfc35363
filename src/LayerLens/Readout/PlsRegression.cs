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
        // far, and the cross-product C = XkᵀYk [d, t] follows deflation by a rank-one update (C −= ss·xl ylᵀ).
        var C = X0.T.mm(Yk);
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
            }
            Tensor XkMv(Tensor v) => scores is null ? X0.mv(v) : X0.mv(v) - scores.mv(loadings!.T.mv(v));
            var xw0 = PowerMethod(Yk, C, eps);
            if (xw0 is null) break; // Y residual is constant: scikit-learn stops adding components here too
            var xw = xw0;
            var xsRaw = XkMv(xw);
            var yw = C.T.mv(xw) / xsRaw.dot(xsRaw);
            // svd_flip_1d: the largest-magnitude x weight is made positive.
            var sign = xw[xw.abs().argmax()].sign();
            xw = xw * sign; yw = yw * sign;
            var xs = xsRaw * sign;
            var ss = xs.dot(xs);
            var xl = (scores is null ? X0.T.mv(xs) : X0.T.mv(xs) - loadings!.mv(scores.T.mv(xs))) / ss;
            var yl = Yk.T.mv(xs) / ss;
            Yk = Yk - outer(xs, yl);
            C = C - outer(xl, yl) * ss;
            W.Add(xw); P.Add(xl); Q.Add(yl); S.Add(xs);
            scores = stack(S, 1); loadings = stack(P, 1);
        }
        var Wm = stack(W, 1); var Pm = stack(P, 1); var Qm = stack(Q, 1);
        var rotations = Wm.mm(linalg.pinv(Pm.T.mm(Wm)));
        var coef = rotations.mm(Qm.T);
        return new PlsModel(coef.MoveToOuterDisposeScope(), xMean.MoveToOuterDisposeScope(), yMean.MoveToOuterDisposeScope(), W.Count);
    }

    /// <summary>
    /// The x weights of scikit-learn's _get_first_singular_vectors_power_method on (Xk, Yk). Its iterates are, up to
    /// positive scale factors, x_i ∝ C (CᵀC)^i e_j (e_j: the first column of Yk with a non-zero entry), and it stops
    /// when two consecutive unit x weights differ by less than tol in squared norm (or after 500 iterations; at once
    /// for one target). The same sequence is run here in the smaller of the two spaces — t-space with K = CᵀC, or
    /// d-space with M = CCᵀ — so an iteration costs t² or d² instead of two passes over the n × d data; the
    /// distance of consecutive unit weights is 2 − 2·cos, with the cosine from K when iterating in t-space.
    /// </summary>
    static Tensor? PowerMethod(Tensor Y, Tensor C, double eps, int maxIter = 500, double tol = 1e-6)
    {
        long d = C.shape[0], t = C.shape[1];
        var first = nonzero((Y.abs() > eps).any(0));
        if (first.shape[0] == 0) return null;
        var c0 = C.select(1, first[0, 0].ToInt64());
        Tensor Unit(Tensor v) => v / (v.dot(v).sqrt() + eps);
        if (t == 1) return Unit(c0);
        // The iteration itself runs on managed arrays: at these sizes libtorch's per-call overhead would dominate.
        bool tSpace = t <= d;
        var A = (tSpace ? C.T.mm(C) : C.mm(C.T)).contiguous().data<double>().ToArray();
        int m = (int)(tSpace ? t : d);
        var a = new double[m];
        if (tSpace) a[(int)first[0, 0].ToInt64()] = 1.0;
        else c0.contiguous().data<double>().CopyTo(a, 0);
        var Aa = new double[m];
        var next = new double[m];
        var Anext = new double[m];
        MatVec(A, a, Aa, m);
        double qa = tSpace ? Dot(a, Aa) : Dot(a, a);
        for (int i = 1; i < maxIter; i++)
        {
            double norm = Math.Sqrt(Dot(Aa, Aa));
            for (int j = 0; j < m; j++) next[j] = Aa[j] / norm;
            MatVec(A, next, Anext, m);
            // Cosine of consecutive x weights: in t-space x = C a, so x·x' = aᵀK a'; in d-space x = a.
            double qn = tSpace ? Dot(next, Anext) : Dot(next, next);
            double cross = tSpace ? Dot(next, Aa) : Dot(next, a);
            double cos = cross / Math.Sqrt(qn * qa);
            (a, next) = (next, a);
            (Aa, Anext) = (Anext, Aa);
            qa = qn;
            if (2 - 2 * cos < tol) break;
        }
        var v = tensor(a, dtype: ScalarType.Float64);
        return Unit(tSpace ? C.mv(v) : v);
    }

    static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        var vx = System.Runtime.InteropServices.MemoryMarshal.Cast<double, System.Numerics.Vector<double>>(x);
        var vy = System.Runtime.InteropServices.MemoryMarshal.Cast<double, System.Numerics.Vector<double>>(y);
        var acc = System.Numerics.Vector<double>.Zero;
        for (int i = 0; i < vx.Length; i++) acc += vx[i] * vy[i];
        double s = System.Numerics.Vector.Dot(acc, System.Numerics.Vector<double>.One);
        for (int i = vx.Length * System.Numerics.Vector<double>.Count; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }

    /// <summary>y = A x for a row-major m × m matrix.</summary>
    static void MatVec(double[] A, double[] x, double[] y, int m)
    {
        for (int r = 0; r < m; r++) y[r] = Dot(A.AsSpan(r * m, m), x.AsSpan(0, m));
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
