namespace LayerLens.Stats;

/// <summary>A split-half reliability: the Spearman–Brown corrected consistency averaged over random splits.</summary>
public sealed record SplitHalfResult(double Consistency, double StandardError, double[] PerSplit, int Splits, int Seed);

/// <summary>Split-half internal consistency, as used for human memorability consistency (LaMem ρ ≈ 0.68) and neural ceilings.</summary>
public static class SplitHalf
{
    /// <summary>Spearman–Brown prophecy for a test lengthened n times: n r / (1 + (n − 1) r).</summary>
    public static double SpearmanBrown(double r, double n = 2) => n * r / (1 + (n - 1) * r);

    /// <summary>
    /// <paramref name="scores"/> is [raters or repetitions][items]; NaN marks an item a rater did not score.
    /// Each split shuffles the raters into two halves, averages each half per item (ignoring NaN), correlates the
    /// two half-means over items scored in both, and applies Spearman–Brown with n = 2.
    /// </summary>
    public static SplitHalfResult Consistency(double[][] scores, int splits = 10, int seed = 0, bool spearman = true)
    {
        int raters = scores.Length;
        if (raters < 2) throw new LayerLensException($"split-half consistency needs at least two raters or repetitions (got {raters})", ErrorKind.BadInput);
        int items = scores[0].Length;
        var rng = new Random(seed);
        var order = Enumerable.Range(0, raters).ToArray();
        var per = new double[splits];
        for (int s = 0; s < splits; s++)
        {
            rng.Shuffle(order);
            var h1 = HalfMean(scores, order.AsSpan(0, raters / 2), items);
            var h2 = HalfMean(scores, order.AsSpan(raters / 2), items);
            var a = new List<double>(); var b = new List<double>();
            for (int i = 0; i < items; i++)
                if (!double.IsNaN(h1[i]) && !double.IsNaN(h2[i])) { a.Add(h1[i]); b.Add(h2[i]); }
            double r = spearman ? Correlation.Spearman(a.ToArray(), b.ToArray(), "split-half") : Correlation.Pearson(a.ToArray(), b.ToArray(), "split-half");
            per[s] = SpearmanBrown(r);
        }
        var summary = FoldSummary.Of(per);
        return new SplitHalfResult(summary.Mean, summary.StandardError, per, splits, seed);
    }

    static double[] HalfMean(double[][] scores, ReadOnlySpan<int> who, int items)
    {
        var sum = new double[items]; var cnt = new int[items];
        foreach (var r in who)
        {
            if (scores[r].Length != items) throw new LayerLensException($"split-half: rater {r} has {scores[r].Length} items, expected {items}", ErrorKind.BadInput);
            for (int i = 0; i < items; i++)
                if (!double.IsNaN(scores[r][i])) { sum[i] += scores[r][i]; cnt[i]++; }
        }
        for (int i = 0; i < items; i++) sum[i] = cnt[i] > 0 ? sum[i] / cnt[i] : double.NaN;
        return sum;
    }
}
