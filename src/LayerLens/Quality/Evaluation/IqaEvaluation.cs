using LayerLens.Stats;

namespace LayerLens.Quality.Evaluation;

/// <summary>
/// Agreement of a metric with human scores. Every number is oriented so that higher means better agreement:
/// metric values are negated when they are distances, scores when they are DMOS-like, before anything is
/// computed. PLCC after a logistic fit carries the sign of the fitted curve's direction, so a metric that
/// agrees backwards cannot score well by fitting a falling curve.
/// </summary>
public sealed record IqaScores(
    int Pairs, double Srocc, double Krocc, double Plcc,
    double Plcc4, double Rmse4, double Plcc5, double Rmse5,
    BootstrapInterval? SroccInterval, BootstrapInterval? PlccInterval);

public sealed record EvaluationOptions
{
    /// <summary>Bootstrap resamples over pairs for the SROCC/PLCC intervals; 0 turns intervals off.</summary>
    public int BootstrapResamples { get; init; } = 1000;
    public double Confidence { get; init; } = 0.95;
    public int Seed { get; init; }
    /// <summary>Fit the logistic mappings (slow for very large sets; off gives NaN for fitted columns).</summary>
    public bool FitLogistic { get; init; } = true;
}

public static class IqaEvaluation
{
    /// <summary>Oriented agreement of <paramref name="metric"/> with <paramref name="scores"/>.</summary>
    public static IqaScores Evaluate(IReadOnlyList<double> metric, IReadOnlyList<double> scores,
        bool metricIsDistance, bool higherScoreIsBetter, EvaluationOptions? options = null)
    {
        var o = options ?? new EvaluationOptions();
        if (metric.Count != scores.Count)
            throw new LayerLensException($"evaluation: {metric.Count} metric values but {scores.Count} scores", ErrorKind.BadInput);
        for (int i = 0; i < metric.Count; i++)
            if (!double.IsFinite(metric[i]))
                throw new LayerLensException($"evaluation: metric value of pair {i + 1} is {metric[i]}", ErrorKind.BadInput);
        var x = metric.Select(v => metricIsDistance ? -v : v).ToArray();
        var y = scores.Select(v => higherScoreIsBetter ? v : -v).ToArray();
        double srocc = Correlation.Spearman(x, y, "metric vs scores");
        double krocc = Correlation.KendallTauB(x, y, "metric vs scores");
        double plcc = Correlation.Pearson(x, y, "metric vs scores");
        double p4 = double.NaN, r4 = double.NaN, p5 = double.NaN, r5 = double.NaN;
        // Too few pairs (a per-type slice of a small set) cannot pin 5 parameters; a failed fit is reported as
        // missing (NaN, empty in tables) rather than aborting the other numbers.
        if (o.FitLogistic && x.Length >= 10)
        {
            try { (p4, r4) = Fitted(LogisticKind.FourParameter, x, y); } catch (LayerLensException) { }
            try { (p5, r5) = Fitted(LogisticKind.FiveParameter, x, y); } catch (LayerLensException) { }
        }
        BootstrapInterval? sci = null, pci = null;
        if (o.BootstrapResamples > 0)
        {
            sci = Resampling.Bootstrap(x.Length, idx => Correlation.Spearman(Pick(x, idx), Pick(y, idx)), o.BootstrapResamples, o.Confidence, o.Seed);
            pci = Resampling.Bootstrap(x.Length, idx => Correlation.Pearson(Pick(x, idx), Pick(y, idx)), o.BootstrapResamples, o.Confidence, o.Seed);
        }
        return new IqaScores(x.Length, srocc, krocc, plcc, p4, r4, p5, r5, sci, pci);
    }

    /// <summary>The same evaluation within each distortion type. Pairs without a type are left out, and so are
    /// types on which a correlation is undefined (a metric or score constant within the type).</summary>
    public static IReadOnlyDictionary<string, IqaScores> PerType(IReadOnlyList<double> metric, IReadOnlyList<double> scores,
        IReadOnlyList<string?> types, bool metricIsDistance, bool higherScoreIsBetter, EvaluationOptions? options = null)
    {
        var result = new SortedDictionary<string, IqaScores>(StringComparer.Ordinal);
        foreach (var g in Enumerable.Range(0, types.Count).Where(i => types[i] != null).GroupBy(i => types[i]!))
        {
            var idx = g.ToArray();
            if (idx.Length < 3) continue;
            try
            {
                result[g.Key] = Evaluate(idx.Select(i => metric[i]).ToArray(), idx.Select(i => scores[i]).ToArray(), metricIsDistance, higherScoreIsBetter, options);
            }
            catch (LayerLensException) { }
        }
        return result;
    }

    static (double Plcc, double Rmse) Fitted(LogisticKind kind, double[] x, double[] y)
    {
        var fit = LogisticFits.Fit(kind, x, y);
        var f = x.Select(fit.Map).ToArray();
        double rmse = Math.Sqrt(f.Zip(y, (a, b) => (a - b) * (a - b)).Average());
        double plcc = f.Distinct().Count() < 2 ? 0 : Math.Abs(Correlation.Pearson(f, y, "fitted metric vs scores"));
        return (fit.Increasing ? plcc : -plcc, rmse);
    }

    static double[] Pick(double[] v, int[] idx)
    {
        var r = new double[idx.Length];
        for (int i = 0; i < idx.Length; i++) r[i] = v[idx[i]];
        return r;
    }
}
