namespace LayerLens.Stats;

/// <summary>A percentile bootstrap interval together with the seed and resample count that produced it.</summary>
public sealed record BootstrapInterval(double Estimate, double Low, double High, double StandardError, double Confidence, int Resamples, int Seed);

/// <summary>A permutation test result: the observed statistic, its p-value and the central band of the null distribution.</summary>
public sealed record PermutationResult(double Observed, double PValue, double NullLow, double NullHigh, int Permutations, int Seed);

/// <summary>Seeded resampling (bootstrap and permutation). System.Random with a seed is stable across runs and platforms.</summary>
public static class Resampling
{
    /// <summary>
    /// Percentile bootstrap over paired samples: each resample draws n indices with replacement and evaluates
    /// <paramref name="statistic"/> on them. Resamples on which the statistic is undefined (e.g. a constant draw) are skipped.
    /// </summary>
    public static BootstrapInterval Bootstrap(int n, Func<int[], double> statistic, int resamples = 2000,
        double confidence = 0.95, int seed = 0)
    {
        if (n < 2) throw new LayerLensException($"bootstrap needs at least two samples (got {n})", ErrorKind.BadInput);
        var all = Enumerable.Range(0, n).ToArray();
        double estimate = statistic(all);
        var rng = new Random(seed);
        var stats = new List<double>(resamples);
        var idx = new int[n];
        for (int b = 0; b < resamples; b++)
        {
            for (int i = 0; i < n; i++) idx[i] = rng.Next(n);
            double s;
            try { s = statistic(idx); }
            catch (LayerLensException) { continue; }
            if (double.IsFinite(s)) stats.Add(s);
        }
        if (stats.Count < resamples / 2)
            throw new LayerLensException($"bootstrap: the statistic was undefined on {resamples - stats.Count} of {resamples} resamples", ErrorKind.BadInput);
        var sorted = stats.OrderBy(v => v).ToArray();
        double alpha = (1 - confidence) / 2;
        double mean = sorted.Average();
        double sd = Math.Sqrt(sorted.Sum(v => (v - mean) * (v - mean)) / (sorted.Length - 1));
        return new BootstrapInterval(estimate, Quantile(sorted, alpha), Quantile(sorted, 1 - alpha), sd, confidence, resamples, seed);
    }

    /// <summary>
    /// Two-sided permutation p-value for a paired statistic: y is shuffled against x.
    /// p = (1 + #{|null| ≥ |observed|}) / (1 + permutations), which is never zero (Phipson &amp; Smyth 2010).
    /// </summary>
    public static PermutationResult PermutationTest(double[] x, double[] y, Func<double[], double[], double> statistic,
        int permutations = 1000, int seed = 0, double band = 0.95)
    {
        if (x.Length != y.Length) throw new LayerLensException($"permutation test: {x.Length} and {y.Length} values do not pair up", ErrorKind.BadInput);
        double observed = statistic(x, y);
        var rng = new Random(seed);
        var perm = (double[])y.Clone();
        var nulls = new double[permutations];
        int extreme = 0;
        double tol = 1e-12 * Math.Max(1, Math.Abs(observed));
        for (int p = 0; p < permutations; p++)
        {
            rng.Shuffle(perm);
            double s = statistic(x, perm);
            nulls[p] = s;
            if (Math.Abs(s) >= Math.Abs(observed) - tol) extreme++;
        }
        Array.Sort(nulls);
        double a = (1 - band) / 2;
        return new PermutationResult(observed, (1.0 + extreme) / (1.0 + permutations), Quantile(nulls, a), Quantile(nulls, 1 - a), permutations, seed);
    }

    /// <summary>numpy.quantile's default (linear interpolation between order statistics) on sorted data.</summary>
    public static double Quantile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    public static double Median(IEnumerable<double> values)
    {
        var s = values.OrderBy(v => v).ToArray();
        if (s.Length == 0) throw new LayerLensException("median of no values", ErrorKind.Internal);
        return Quantile(s, 0.5);
    }
}
