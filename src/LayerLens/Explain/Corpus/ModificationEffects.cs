using LayerLens.Stats;

namespace LayerLens.Explain.Corpus;

/// <summary>The classifier's output for one image before and after one edit.</summary>
public readonly record struct ModificationOutcome(int OriginalClass, int ModifiedClass, double ProbabilityChange, double KlDivergence)
{
    public bool Changed => OriginalClass != ModifiedClass;

    /// <summary>
    /// Compares two probability vectors: top-class change, change of the original top class's probability (after − before)
    /// and KL(before ‖ after) in nats (probabilities floored at 1e-12).
    /// </summary>
    public static ModificationOutcome Of(IReadOnlyList<double> before, IReadOnlyList<double> after)
    {
        if (before.Count != after.Count)
            throw new LayerLensException($"probability vectors of {before.Count} and {after.Count} classes do not compare", ErrorKind.Internal);
        int top = ArgMax(before), mod = ArgMax(after);
        double kl = 0;
        for (int i = 0; i < before.Count; i++)
        {
            double p = Math.Max(before[i], 1e-12), q = Math.Max(after[i], 1e-12);
            if (before[i] > 0) kl += before[i] * Math.Log(p / q);
        }
        return new ModificationOutcome(top, mod, after[top] - before[top], Math.Max(0, kl));
    }

    public static int ArgMax(IReadOnlyList<double> v)
    {
        int best = 0;
        for (int i = 1; i < v.Count; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}

/// <summary>
/// Effect of one edit over a group of images (the corpus or one original class): how often the top class changes, the
/// mean change of the original top class's probability and the mean KL divergence, each with a percentile bootstrap interval
/// over images (NaN bounds for fewer than two images).
/// </summary>
public sealed record ModificationEffect(string Modification, string Group, int Images,
    BootstrapValue ChangeRate, BootstrapValue MeanProbabilityChange, BootstrapValue MeanKl);

/// <summary>An estimate with its bootstrap interval.</summary>
public readonly record struct BootstrapValue(double Estimate, double Low, double High);

public static class ModificationStatistics
{
    /// <summary>Effects for the whole set ("all") and for each original class that occurs, in class order.</summary>
    public static List<ModificationEffect> Summarise(string modification, IReadOnlyList<ModificationOutcome> outcomes, IReadOnlyList<string> classNames,
        int resamples = 1000, int seed = 0, double confidence = 0.95)
    {
        var rows = new List<ModificationEffect> { Effect(modification, "all", outcomes, resamples, seed, confidence) };
        foreach (var g in outcomes.GroupBy(o => o.OriginalClass).OrderBy(g => g.Key))
            rows.Add(Effect(modification, classNames.Count > g.Key ? classNames[g.Key] : $"class_{g.Key}", g.ToList(), resamples, seed, confidence));
        return rows;
    }

    public static ModificationEffect Effect(string modification, string group, IReadOnlyList<ModificationOutcome> o, int resamples = 1000, int seed = 0, double confidence = 0.95)
    {
        var changed = o.Select(x => x.Changed ? 1.0 : 0.0).ToArray();
        var dp = o.Select(x => x.ProbabilityChange).ToArray();
        var kl = o.Select(x => x.KlDivergence).ToArray();
        return new ModificationEffect(modification, group, o.Count, Mean(changed, resamples, seed, confidence), Mean(dp, resamples, seed, confidence), Mean(kl, resamples, seed, confidence));
    }

    static BootstrapValue Mean(double[] v, int resamples, int seed, double confidence)
    {
        if (v.Length == 0) return new BootstrapValue(double.NaN, double.NaN, double.NaN);
        double mean = v.Average();
        if (v.Length < 2 || resamples <= 0) return new BootstrapValue(mean, double.NaN, double.NaN);
        var ci = Resampling.Bootstrap(v.Length, idx => { double s = 0; foreach (var i in idx) s += v[i]; return s / idx.Length; }, resamples, confidence, seed);
        return new BootstrapValue(mean, ci.Low, ci.High);
    }
}
