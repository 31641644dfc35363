namespace LayerLens.Stats;

/// <summary>Prediction scores as scikit-learn.metrics computes them (r2_score, mean_squared_error, accuracy_score).</summary>
public static class Metrics
{
    /// <summary>Coefficient of determination 1 − SS_res/SS_tot; a constant truth is an error, not −inf or NaN.</summary>
    public static double R2(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted, string what = "targets")
    {
        SameLength(truth.Length, predicted.Length, what);
        double mean = 0;
        for (int i = 0; i < truth.Length; i++) mean += truth[i];
        mean /= truth.Length;
        double ssRes = 0, ssTot = 0;
        for (int i = 0; i < truth.Length; i++)
        {
            double e = truth[i] - predicted[i], d = truth[i] - mean;
            ssRes += e * e; ssTot += d * d;
        }
        if (ssTot == 0)
            throw new LayerLensException($"{what}: R² is undefined because the true values are constant", ErrorKind.BadInput);
        return 1 - ssRes / ssTot;
    }

    public static double Mse(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted, string what = "targets")
    {
        SameLength(truth.Length, predicted.Length, what);
        double s = 0;
        for (int i = 0; i < truth.Length; i++) { double e = truth[i] - predicted[i]; s += e * e; }
        return s / truth.Length;
    }

    public static double Accuracy(ReadOnlySpan<int> truth, ReadOnlySpan<int> predicted, string what = "labels")
    {
        SameLength(truth.Length, predicted.Length, what);
        int hit = 0;
        for (int i = 0; i < truth.Length; i++) if (truth[i] == predicted[i]) hit++;
        return hit / (double)truth.Length;
    }

    static void SameLength(int a, int b, string what)
    {
        if (a != b) throw new LayerLensException($"{what}: {a} true values but {b} predictions", ErrorKind.BadInput);
        if (a == 0) throw new LayerLensException($"{what}: no values to score", ErrorKind.BadInput);
    }
}

/// <summary>Per-fold (or per-split) values with their mean and standard error of the mean.</summary>
public sealed record FoldSummary(double[] Values, double Mean, double StandardError)
{
    /// <param name="values">One value per fold or split.</param>
    /// <param name="ddof">1 gives scipy.stats.sem; 0 gives Brain-Score's error (xarray's std / √n).</param>
    public static FoldSummary Of(IReadOnlyList<double> values, int ddof = 1)
    {
        if (values.Count == 0) throw new LayerLensException("no fold values to summarise", ErrorKind.Internal);
        var v = values.ToArray();
        double mean = v.Average();
        double se = 0;
        if (v.Length - ddof > 0)
        {
            double ss = v.Sum(x => (x - mean) * (x - mean));
            se = Math.Sqrt(ss / (v.Length - ddof)) / Math.Sqrt(v.Length);
        }
        return new FoldSummary(v, mean, se);
    }
}
