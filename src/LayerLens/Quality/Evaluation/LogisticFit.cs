using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics;
using MathNet.Numerics.Optimization;

namespace LayerLens.Quality.Evaluation;

/// <summary>Which monotonic mapping from metric values to scores is fitted before PLCC and RMSE.</summary>
public enum LogisticKind
{
    /// <summary>VQEG's f(x) = (β1 − β2) / (1 + exp(−(x − β3) / |β4|)) + β2.</summary>
    FourParameter = 4,
    /// <summary>Sheikh et al. (2006)'s f(x) = β1 (½ − 1 / (1 + exp(β2 (x − β3)))) + β4 x + β5.</summary>
    FiveParameter = 5,
}

/// <summary>A fitted logistic mapping and whether it rises with the metric.</summary>
public sealed record LogisticFit(LogisticKind Kind, double[] Parameters, bool Increasing)
{
    public double Map(double x) => LogisticFits.Evaluate(Kind, Parameters, x);
}

/// <summary>
/// Least-squares logistic fits by Levenberg–Marquardt (MathNet.Numerics), started where the usual
/// MATLAB/SciPy recipes start: the score range, the metric's mean and spread, and the slope sign of the data.
/// </summary>
public static class LogisticFits
{
    public static LogisticFit Fit(LogisticKind kind, IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count || x.Count < (int)kind + 1)
            throw new LayerLensException($"{(int)kind}-parameter logistic fit needs more than {(int)kind} paired values, got {Math.Min(x.Count, y.Count)}", ErrorKind.BadInput);
        var xs = Vector<double>.Build.DenseOfEnumerable(x);
        var ys = Vector<double>.Build.DenseOfEnumerable(y);
        double mx = xs.Average(), sx = Math.Sqrt(xs.Select(v => (v - mx) * (v - mx)).Average());
        if (!(sx > 0)) throw new LayerLensException("logistic fit: the metric is constant over the pairs", ErrorKind.BadInput);
        double rSign = Stats.Correlation.Pearson(x.ToArray(), y.ToArray(), "metric vs scores") >= 0 ? 1 : -1;
        double ymax = ys.Maximum(), ymin = ys.Minimum();
        var start = kind == LogisticKind.FourParameter
            ? new[] { rSign > 0 ? ymax : ymin, rSign > 0 ? ymin : ymax, mx, sx }
            : new[] { ymax - ymin, rSign / sx, mx, 0, ys.Average() };
        var model = ObjectiveFunction.NonlinearModel(
            (p, v) => Evaluate(kind, p.ToArray(), v),
            (p, v) => Vector<double>.Build.DenseOfArray(Gradient(kind, p.ToArray(), v)),
            xs, ys);
        var solver = new LevenbergMarquardtMinimizer(maximumIterations: 2000);
        double[] beta;
        try
        {
            beta = solver.FindMinimum(model, Vector<double>.Build.DenseOfArray(start)).MinimizingPoint.ToArray();
        }
        catch (Exception e) when (e is ArgumentException or ArithmeticException or MaximumIterationsException or InvalidOperationException)
        {
            throw new LayerLensException($"{(int)kind}-parameter logistic fit failed: {e.Message}", ErrorKind.BadInput, e);
        }
        if (beta.Any(b => !double.IsFinite(b)))
            throw new LayerLensException($"{(int)kind}-parameter logistic fit diverged", ErrorKind.BadInput);
        double lo = Evaluate(kind, beta, xs.Minimum()), hi = Evaluate(kind, beta, xs.Maximum());
        return new LogisticFit(kind, beta, hi >= lo);
    }

    public static double Evaluate(LogisticKind kind, double[] b, double x) => kind == LogisticKind.FourParameter
        ? (b[0] - b[1]) / (1 + Math.Exp(-(x - b[2]) / Math.Abs(b[3]))) + b[1]
        : b[0] * (0.5 - 1 / (1 + Math.Exp(b[1] * (x - b[2])))) + b[3] * x + b[4];

    static double[] Gradient(LogisticKind kind, double[] b, double x)
    {
        if (kind == LogisticKind.FourParameter)
        {
            double s = Math.Abs(b[3]), sign = b[3] >= 0 ? 1 : -1;
            double e = Math.Exp(-(x - b[2]) / s), g = 1 / (1 + e), dg = g * g * e; // dg = g(1-g)
            return new[] { g, 1 - g, -(b[0] - b[1]) * dg / s, -(b[0] - b[1]) * dg * (x - b[2]) / (s * s) * sign };
        }
        double ee = Math.Exp(b[1] * (x - b[2])), q = 1 / (1 + ee), dq = q * q * ee; // d/dz of 1/(1+e^z) = −dq
        return new[] { 0.5 - q, b[0] * dq * (x - b[2]), -b[0] * dq * b[1], x, 1 };
    }
}
