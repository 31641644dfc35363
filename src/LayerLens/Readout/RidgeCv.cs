using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Readout;

/// <summary>Options for <see cref="RidgeCv"/>. Null alphas mean 30 values log-spaced over 1e-3…1e6.</summary>
public sealed record RidgeCvOptions(double[]? Alphas = null, bool AlphaPerTarget = true, bool Standardize = true)
{
    public double[] Grid => Alphas ?? DefaultAlphas;
    public static readonly double[] DefaultAlphas = Enumerable.Range(0, 30).Select(i => Math.Pow(10, -3 + 9.0 * i / 29)).ToArray();
}

/// <summary>
/// Ridge regression whose alpha is chosen on the training data by efficient leave-one-out, the same computation as
/// scikit-learn's RidgeCV (gcv_mode auto, fit_intercept=True): one eigendecomposition of the centred Gram matrix
/// (XᵀX when N > D, XXᵀ otherwise) per fit, and every alpha in the grid is a cheap function of it (as in himalaya).
/// The LOO residual of sample i is r_i / (1 − h_ii) with hat matrix H = 11ᵀ/n + U diag(λ/(λ+α)) Uᵀ.
/// </summary>
public static class RidgeCv
{
    public static RidgeModel Fit(Tensor x, Tensor y, RidgeCvOptions? options = null, string what = "ridge")
    {
        options ??= new RidgeCvOptions();
        var alphas = options.Grid;
        if (alphas.Length == 0 || alphas.Any(a => !(a > 0)))
            throw new LayerLensException($"{what}: alphas must be positive numbers", ErrorKind.Usage);
        ReadoutTensors.Init();
        using var scope = NewDisposeScope();
        var (X, Y) = ReadoutTensors.Prepare(x, y, what);
        long n = X.shape[0], t = Y.shape[1];
        if (n < 3) throw new LayerLensException($"{what}: ridge with leave-one-out needs at least 3 training samples (got {n})", ErrorKind.BadInput);
        Standardizer? scaler = options.Standardize ? Standardizer.Fit(X) : null;
        var Xs = scaler != null ? scaler.Transform(X) : X;
        var xMean = Xs.mean(new long[] { 0 });
        var yMean = Y.mean(new long[] { 0 });
        var Xc = Xs - xMean;
        var Yc = Y - yMean;

        var (U, lam) = Decompose(Xc);
        var UTy = U.T.mm(Yc);
        var U2 = U.square();

        var best = new double[t];
        Array.Fill(best, double.PositiveInfinity);
        var chosen = new double[t];
        foreach (var a in alphas)
        {
            using var s2 = NewDisposeScope();
            var f = lam / (lam + a);
            var h = U2.mv(f) + 1.0 / n;
            var resid = Yc - U.mm(f.unsqueeze(1) * UTy);
            var loo = resid / (1 - h).unsqueeze(1);
            var mse = loo.square().mean(new long[] { 0 });
            if (!options.AlphaPerTarget) mse = mse.mean().expand(t);
            var m = mse.data<double>().ToArray();
            for (int j = 0; j < t; j++)
                if (m[j] < best[j]) { best[j] = m[j]; chosen[j] = a; }
        }

        var alphaT = tensor(chosen, dtype: ScalarType.Float64);
        var dual = U.mm(UTy / (lam.unsqueeze(1) + alphaT.unsqueeze(0)));
        var coef = Xc.T.mm(dual);
        var intercept = yMean - xMean.matmul(coef);
        scaler?.Mean.MoveToOuterDisposeScope();
        scaler?.Scale.MoveToOuterDisposeScope();
        return new RidgeModel(coef.MoveToOuterDisposeScope(), intercept.MoveToOuterDisposeScope(), chosen, best, scaler);
    }

    /// <summary>Left singular vectors and squared singular values of centred X, from the smaller Gram matrix.</summary>
    internal static (Tensor U, Tensor Lambda) Decompose(Tensor Xc)
    {
        long n = Xc.shape[0], d = Xc.shape[1];
        Tensor lam, U;
        if (n > d)
        {
            var (l, V) = linalg.eigh(Xc.T.mm(Xc));
            var keep = Keep(l);
            lam = l.index_select(0, keep);
            U = Xc.mm(V.index_select(1, keep)) / lam.sqrt();
        }
        else
        {
            var (l, Q) = linalg.eigh(Xc.mm(Xc.T));
            var keep = Keep(l);
            lam = l.index_select(0, keep);
            U = Q.index_select(1, keep);
        }
        return (U, lam);
    }

    // Eigenvalues at rounding level of the largest one are null directions (among them the intercept's 1/√n after
    // centring); their hat-matrix weight λ/(λ+α) is zero in exact arithmetic, so they are dropped.
    static Tensor Keep(Tensor l)
    {
        double max = l.max().ToDouble();
        var keep = nonzero(l > Math.Max(max, 0) * 1e-11).squeeze(1);
        if (keep.shape[0] == 0) throw new LayerLensException("ridge: the features are constant on the training fold", ErrorKind.BadInput);
        return keep;
    }
}

/// <summary>A fitted ridge readout with the alpha chosen for each target and its leave-one-out mean squared error.</summary>
public sealed class RidgeModel : IFittedReadout
{
    public Tensor Coef { get; }
    public Tensor Intercept { get; }
    public double[] Alphas { get; }
    public double[] LooMse { get; }
    readonly Standardizer? _scaler;

    internal RidgeModel(Tensor coef, Tensor intercept, double[] alphas, double[] looMse, Standardizer? scaler)
    { Coef = coef; Intercept = intercept; Alphas = alphas; LooMse = looMse; _scaler = scaler; }

    public Tensor Predict(Tensor x)
    {
        using var scope = NewDisposeScope();
        var X = x.to_type(ScalarType.Float64);
        if (_scaler != null) X = _scaler.Transform(X);
        return (X.mm(Coef) + Intercept).MoveToOuterDisposeScope();
    }

    public void Dispose() { Coef.Dispose(); Intercept.Dispose(); _scaler?.Dispose(); }
}
