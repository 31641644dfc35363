using TorchSharp;
using LayerLens.Native;
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
/// The dense algebra goes through <see cref="DenseLinalg"/> (OpenBLAS when installed, else libtorch).
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

        var (U, lam, V) = Decompose(Xc);
        var UTy = DenseLinalg.MatMul(U, Yc, transposeA: true);

        // Leave-one-out hat diagonals for every alpha in one product: h[i, a] = 1/n + Σ_k U_ik² λ_k/(λ_k + α_a).
        var grid = tensor(alphas, dtype: ScalarType.Float64);
        var shrink = lam.unsqueeze(1) / (lam.unsqueeze(1) + grid.unsqueeze(0));   // [k, A]
        Tensor hat;
        using (var u2 = U.square()) hat = DenseLinalg.MatMul(u2, shrink) + 1.0 / n;  // [n, A]

        var best = new double[t];
        Array.Fill(best, double.PositiveInfinity);
        var chosen = new double[t];
        // Fitted values for several alphas come from one product U·[f_a ⊙ UᵀY]: with one target that is one matrix
        // product instead of 30 passes over U, and with many targets wide products run closer to the BLAS's peak
        // (up to 1,024 columns, and at most 16 M values of fitted output at a time).
        int columns = (int)Math.Min(1024, 16_000_000 / Math.Max(1, n));
        int group = (int)Math.Clamp(columns / t, 1, alphas.Length);
        for (int a0 = 0; a0 < alphas.Length; a0 += group)
        {
            using var s2 = NewDisposeScope();
            int g = Math.Min(group, alphas.Length - a0);
            var f = shrink.narrow(1, a0, g);                                        // [k, g]
            var coefs = (f.unsqueeze(2) * UTy.unsqueeze(1)).reshape(-1, g * t);      // [k, g·t]
            var fitted = DenseLinalg.MatMul(U, coefs).view(n, g, t);
            var loo = (Yc.unsqueeze(1) - fitted) / (1 - hat.narrow(1, a0, g)).unsqueeze(2);
            var mse = loo.square().mean(new long[] { 0 });                           // [g, t]
            if (!options.AlphaPerTarget) mse = mse.mean(new long[] { 1 }, keepdim: true).expand(g, t);
            var m = mse.contiguous().data<double>().ToArray();
            for (int i = 0; i < g; i++)
                for (int j = 0; j < t; j++)
                    if (m[i * t + j] < best[j]) { best[j] = m[i * t + j]; chosen[j] = alphas[a0 + i]; }
        }

        var alphaT = tensor(chosen, dtype: ScalarType.Float64);
        var weights = UTy / (lam.unsqueeze(1) + alphaT.unsqueeze(0));                 // [k, t]
        // coef = Xcᵀ U diag(1/(λ+α)) UᵀY; with Xc = U Λ^½ Vᵀ that is V Λ^½ (…), a product over d rather than n.
        var coef = V is not null
            ? DenseLinalg.MatMul(V, weights * lam.sqrt().unsqueeze(1))
            : DenseLinalg.MatMul(Xc, DenseLinalg.MatMul(U, weights), transposeA: true);
        var intercept = yMean - xMean.matmul(coef);
        scaler?.Mean.MoveToOuterDisposeScope();
        scaler?.Scale.MoveToOuterDisposeScope();
        return new RidgeModel(coef.MoveToOuterDisposeScope(), intercept.MoveToOuterDisposeScope(), chosen, best, scaler);
    }

    /// <summary>
    /// Left singular vectors U and squared singular values λ of centred X, from the smaller Gram matrix; when that is
    /// XᵀX, also its eigenvectors V (Xc = U Λ^½ Vᵀ).
    /// </summary>
    internal static (Tensor U, Tensor Lambda, Tensor? V) Decompose(Tensor Xc)
    {
        long n = Xc.shape[0], d = Xc.shape[1];
        if (n > d)
        {
            var (l, Vall) = DenseLinalg.Eigh(DenseLinalg.Gram(Xc));
            var keep = Keep(l);
            var lam = l.index_select(0, keep);
            var V = Vall.index_select(1, keep);
            var U = DenseLinalg.MatMul(Xc, V) / lam.sqrt();
            return (U, lam, V);
        }
        else
        {
            var (l, Q) = DenseLinalg.Eigh(DenseLinalg.Gram(Xc, ofRows: true));
            var keep = Keep(l);
            return (Q.index_select(1, keep), l.index_select(0, keep), null);
        }
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
