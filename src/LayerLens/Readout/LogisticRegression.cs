using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Readout;

/// <summary>
/// L2-penalised logistic regression with the objective of scikit-learn's LogisticRegression(solver='lbfgs'):
/// C·Σ log-loss + ½‖W‖² (intercepts unpenalised); multinomial for three or more classes and a single sigmoid
/// weight vector for two (scikit-learn's 'auto' choice), solved to a much tighter tolerance than scikit-learn's
/// default so that the probabilities are those of the optimum, not of where an iteration happened to stop.
/// </summary>
public static class LogisticRegression
{
    public static LogisticModel Fit(Tensor x, int[] labels, double c = 1.0, bool standardize = false, int maxIter = 5000, string what = "logistic")
    {
        if (!(c > 0)) throw new LayerLensException($"{what}: C must be positive (got {c})", ErrorKind.Usage);
        ReadoutTensors.Init();
        using var scope = NewDisposeScope();
        var classes = labels.Distinct().OrderBy(v => v).ToArray();
        if (classes.Length < 2) throw new LayerLensException($"{what}: the training labels contain only one class ({classes.FirstOrDefault()})", ErrorKind.BadInput);
        var (X, _) = ReadoutTensors.Prepare(x, zeros(x.shape[0]), what);
        Standardizer? scaler = standardize ? Standardizer.Fit(X) : null;
        if (scaler != null) X = scaler.Transform(X);
        long n = X.shape[0], d = X.shape[1];
        int k = classes.Length == 2 ? 1 : classes.Length;
        var Xa = cat(new[] { X, ones(n, 1, dtype: ScalarType.Float64) }, 1);
        var index = labels.Select(l => (long)Array.BinarySearch(classes, l)).ToArray();
        var onehot = nn.functional.one_hot(tensor(index), classes.Length).to_type(ScalarType.Float64);
        var penaltyMask = ones(d + 1, k, dtype: ScalarType.Float64);
        penaltyMask[TensorIndex.Single(d)] = zeros(k, dtype: ScalarType.Float64);
        // The objective is divided by C·n so that the gradient tolerance means the same at any sample size.
        double scale = 1.0 / (c * n);

        (double f, Tensor g) Eval(Tensor W)
        {
            var z = Logits(Xa, W);
            var lse = z.logsumexp(1);
            double loss = (lse.sum() - (z * onehot).sum()).ToDouble();
            var p = (z - lse.unsqueeze(1)).exp();
            var gz = p - onehot;
            if (k == 1) gz = gz[TensorIndex.Colon, TensorIndex.Slice(1, 2)];
            var Wp = W * penaltyMask;
            double f = scale * (c * loss + 0.5 * Wp.square().sum().ToDouble());
            var g = scale * (c * Xa.T.mm(gz) + Wp);
            return (f, g);
        }

        // Few parameters: Newton's method reaches the optimum in a handful of steps; many: L-BFGS.
        var Wopt = (d + 1) * k <= 1500
            ? Newton(zeros(d + 1, k, dtype: ScalarType.Float64), Eval, W => Hessian(Xa, W, c, scale, penaltyMask), what)
            : Lbfgs(zeros(d + 1, k, dtype: ScalarType.Float64), Eval, maxIter, what);
        scaler?.Mean.MoveToOuterDisposeScope();
        scaler?.Scale.MoveToOuterDisposeScope();
        return new LogisticModel(Wopt.MoveToOuterDisposeScope(), classes, scaler);
    }

    /// <summary>Hessian of the scaled objective, parameters ordered as W.flatten() (feature-major, class-minor).</summary>
    static Tensor Hessian(Tensor Xa, Tensor W, double c, double scale, Tensor penaltyMask)
    {
        long p1 = Xa.shape[1], k = W.shape[1];
        var prob = Logits(Xa, W).softmax(1);
        if (k == 1) prob = prob[TensorIndex.Colon, TensorIndex.Slice(1, 2)];
        var H = zeros(p1, k, p1, k, dtype: ScalarType.Float64);
        for (int a = 0; a < k; a++)
            for (int b = a; b < k; b++)
            {
                var pa = prob[TensorIndex.Colon, TensorIndex.Single(a)];
                var pb = prob[TensorIndex.Colon, TensorIndex.Single(b)];
                var wgt = a == b ? pa * (1 - pa) : -pa * pb;
                var block = Xa.T.mm(Xa * wgt.unsqueeze(1)) * (c * scale);
                H[TensorIndex.Colon, TensorIndex.Single(a), TensorIndex.Colon, TensorIndex.Single(b)] = block;
                if (a != b) H[TensorIndex.Colon, TensorIndex.Single(b), TensorIndex.Colon, TensorIndex.Single(a)] = block.T;
            }
        var Hm = H.reshape(p1 * k, p1 * k);
        return Hm + diag(penaltyMask.flatten() * scale);
    }

    static Tensor Newton(Tensor w0, Func<Tensor, (double f, Tensor g)> eval, Func<Tensor, Tensor> hessian, string what)
    {
        var w = w0;
        var (f, g) = eval(w);
        for (int it = 0; it < 200; it++)
        {
            if (g.abs().max().ToDouble() < 1e-13) return w;
            // The unpenalised intercepts make H singular along the class-sum direction of a multinomial model; lstsq
            // picks the minimum-norm step, which leaves the probabilities (the only identified quantity) correct.
            var H = hessian(w);
            var step = linalg.lstsq(H, g.flatten().unsqueeze(1)).Item1.reshape(w.shape);
            double slope = -(g * step).sum().ToDouble();
            double t = 1.0;
            Tensor wNew; double fNew; Tensor gNew;
            while (true)
            {
                wNew = w - t * step;
                (fNew, gNew) = eval(wNew);
                if (fNew <= f + 1e-4 * t * slope || t < 1e-10) break;
                t *= 0.5;
            }
            bool done = t < 1e-10 || f - fNew <= 4.5e-16 * Math.Abs(f) && gNew.abs().max().ToDouble() < 1e-9;
            w = wNew; f = fNew; g = gNew;
            if (done) return w;
        }
        if (g.abs().max().ToDouble() > 1e-6)
            throw new LayerLensException($"{what}: Newton's method did not converge (gradient {g.abs().max().ToDouble():g3}); try a smaller C", ErrorKind.BadInput);
        return w;
    }

    internal static Tensor Logits(Tensor Xa, Tensor W)
    {
        var z = Xa.mm(W);
        return W.shape[1] == 1 ? cat(new[] { zeros_like(z), z }, 1) : z;
    }

    /// <summary>
    /// L-BFGS (history 20) with Armijo backtracking on the objective scaled by 1/(C·n); stops when the largest gradient
    /// entry is below 1e-11 or the objective stops decreasing at rounding level for five iterations.
    /// </summary>
    static Tensor Lbfgs(Tensor w0, Func<Tensor, (double f, Tensor g)> eval, int maxIter, string what)
    {
        const int m = 20;
        var S = new List<Tensor>(); var Yh = new List<Tensor>(); var rho = new List<double>();
        var w = w0;
        var (f, g) = eval(w);
        int flat = 0;
        for (int it = 0; it < maxIter; it++)
        {
            if (g.abs().max().ToDouble() < 1e-11) return w;
            // Two-loop recursion for the search direction.
            var q = g.clone();
            var alpha = new double[S.Count];
            for (int i = S.Count - 1; i >= 0; i--) { alpha[i] = rho[i] * (S[i] * q).sum().ToDouble(); q = q - alpha[i] * Yh[i]; }
            if (S.Count > 0) q = q * ((S[^1] * Yh[^1]).sum().ToDouble() / (Yh[^1] * Yh[^1]).sum().ToDouble());
            for (int i = 0; i < S.Count; i++) { double b = rho[i] * (Yh[i] * q).sum().ToDouble(); q = q + (alpha[i] - b) * S[i]; }
            var dir = -q;
            double slope = (g * dir).sum().ToDouble();
            if (slope >= 0) { dir = -g; slope = -(g * g).sum().ToDouble(); S.Clear(); Yh.Clear(); rho.Clear(); }
            double step = 1.0;
            Tensor wNew; double fNew; Tensor gNew;
            while (true)
            {
                wNew = w + step * dir;
                (fNew, gNew) = eval(wNew);
                if (fNew <= f + 1e-4 * step * slope || step < 1e-20) break;
                step *= 0.5;
            }
            var s = wNew - w; var yv = gNew - g;
            double sy = (s * yv).sum().ToDouble();
            if (sy > 1e-300)
            {
                S.Add(s); Yh.Add(yv); rho.Add(1.0 / sy);
                if (S.Count > m) { S.RemoveAt(0); Yh.RemoveAt(0); rho.RemoveAt(0); }
            }
            flat = f - fNew <= 4.5e-16 * Math.Abs(f) ? flat + 1 : 0;
            w = wNew; f = fNew; g = gNew;
            if (step < 1e-20 || flat >= 5) break;
        }
        if (g.abs().max().ToDouble() > 1e-6)
            throw new LayerLensException($"{what}: L-BFGS did not converge in {maxIter} iterations (gradient {g.abs().max().ToDouble():g3}); try a smaller C", ErrorKind.BadInput);
        return w;
    }
}

/// <summary>A fitted logistic readout. Predict returns class probabilities [N, classes] in the order of <see cref="Classes"/>.</summary>
public sealed class LogisticModel : IFittedReadout
{
    /// <summary>Weights [features + 1, k]; the last row holds the intercepts; k = 1 for two classes.</summary>
    public Tensor Weights { get; }
    public int[] Classes { get; }
    readonly Standardizer? _scaler;

    internal LogisticModel(Tensor w, int[] classes, Standardizer? scaler) { Weights = w; Classes = classes; _scaler = scaler; }

    public Tensor Predict(Tensor x)
    {
        using var scope = NewDisposeScope();
        var X = x.to_type(ScalarType.Float64);
        if (_scaler != null) X = _scaler.Transform(X);
        var Xa = cat(new[] { X, ones(X.shape[0], 1, dtype: ScalarType.Float64) }, 1);
        return LogisticRegression.Logits(Xa, Weights).softmax(1).MoveToOuterDisposeScope();
    }

    public int[] PredictLabels(Tensor x)
    {
        using var p = Predict(x);
        using var am = p.argmax(1);
        return am.data<long>().ToArray().Select(i => Classes[i]).ToArray();
    }

    public void Dispose() { Weights.Dispose(); _scaler?.Dispose(); }
}
