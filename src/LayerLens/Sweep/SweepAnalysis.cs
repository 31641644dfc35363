using LayerLens.Reports;
using LayerLens.Stats;

namespace LayerLens.Sweep;

/// <summary>
/// The sweep's analysis: Spearman between memorability accuracy and brain (IT) similarity across all layers and within
/// each model (bootstrap interval over layers, permutation p-value), the best layer per model and target, the
/// penultimate-layer table, and with fine-tuning the correlation across fine-tuned models.
/// </summary>
sealed class SweepAnalysis
{
    public string? AccuracyTarget { get; init; }
    public string? AccuracyMetric { get; init; }
    public string? BrainTarget { get; init; }
    public required List<BestLayer> BestLayers { get; init; }
    public required List<SweepCorrelation> Correlations { get; init; }
    public required List<PenultimateScore> Penultimate { get; init; }

    /// <summary>The score target and neural target the analysis relates: configured, else the first score target and the first IT (else any) neural target.</summary>
    public static (string? Accuracy, string? Brain) Targets(SweepConfig c)
    {
        var acc = c.Analysis.Accuracy ?? c.Targets.OfType<ScoreTarget>().FirstOrDefault()?.Name;
        var neural = c.Targets.OfType<NeuralTarget>().ToList();
        var brain = c.Analysis.Brain
            ?? neural.FirstOrDefault(n => string.Equals(n.Region, "IT", StringComparison.OrdinalIgnoreCase) || n.Name.Equals("IT", StringComparison.OrdinalIgnoreCase))?.Name
            ?? neural.FirstOrDefault()?.Name;
        return (acc, brain);
    }

    public static SweepAnalysis Compute(SweepConfig config, IReadOnlyList<SweepRow> rows, IReadOnlyDictionary<string, string?> penultimate, IReadOnlyList<FineTuneScore> fineTuned)
    {
        var (accName, brainName) = Targets(config);
        var accMetric = accName == null ? null : config.Targets.First(t => t.Name == accName).PrimaryMetric;
        var frozen = rows.Where(r => !r.Metric.StartsWith("finetuned_", StringComparison.Ordinal)).ToList();

        var best = new List<BestLayer>();
        foreach (var m in config.Models)
            foreach (var t in config.Targets)
            {
                var cand = frozen.Where(r => r.Model == m.Name && r.Target == t.Name && r.Metric == t.PrimaryMetric && double.IsFinite(r.Value)).ToList();
                if (cand.Count == 0) continue;
                // Highest value; ties go to the shallower layer (first in depth order), so the choice is stable.
                var b = cand.OrderByDescending(r => r.Value).ThenBy(r => r.DepthIndex).ThenBy(r => r.Layer, StringComparer.Ordinal).First();
                best.Add(new BestLayer(m.Name, t.Name, t.PrimaryMetric, b.Layer, b.Op, b.RelativeDepth, b.Value, b.Error));
            }

        var pen = new List<PenultimateScore>();
        foreach (var m in config.Models)
        {
            if (penultimate.GetValueOrDefault(m.Name) is not { } layer) continue;
            foreach (var t in config.Targets)
                if (frozen.FirstOrDefault(r => r.Model == m.Name && r.Layer == layer && r.Target == t.Name && r.Metric == t.PrimaryMetric) is { } r)
                    pen.Add(new PenultimateScore(m.Name, layer, r.RelativeDepth, t.Name, t.PrimaryMetric, r.Value, r.Error));
        }

        var corr = new List<SweepCorrelation>();
        var opts = config.Analysis;
        if (accName != null && brainName != null)
        {
            var pairs = Pairs(frozen, accName, accMetric!, brainName);
            string xl = $"{brainName}/ceiled", yl = $"{accName}/{accMetric}";
            corr.Add(Correlate("all layers", xl, yl, pairs.Select(p => p.Brain).ToArray(), pairs.Select(p => p.Acc).ToArray(), opts, config.Seed));
            foreach (var m in config.Models)
            {
                var mp = pairs.Where(p => p.Model == m.Name).ToList();
                corr.Add(Correlate(m.Name, xl, yl, mp.Select(p => p.Brain).ToArray(), mp.Select(p => p.Acc).ToArray(), opts, config.Seed));
            }
        }
        if (fineTuned.Count > 0)
        {
            var f = fineTuned.Where(s => double.IsFinite(s.TestValue) && double.IsFinite(s.BrainCeiled)).ToList();
            corr.Add(Correlate("fine-tuned models (penultimate layer)", $"{f.FirstOrDefault()?.BrainTarget}/finetuned_ceiled",
                $"{config.FineTune!.Target}/{f.FirstOrDefault()?.TestMetric}", f.Select(s => s.BrainCeiled).ToArray(), f.Select(s => s.TestValue).ToArray(), opts, config.Seed));
        }
        return new SweepAnalysis
        {
            AccuracyTarget = accName, AccuracyMetric = accMetric, BrainTarget = brainName, BestLayers = best, Correlations = corr, Penultimate = pen,
        };
    }

    /// <summary>Layers scored on both targets: (model, layer, relative depth, accuracy, brain similarity).</summary>
    public static List<(string Model, string Layer, double Depth, double Acc, double Brain)> Pairs(IReadOnlyList<SweepRow> rows, string acc, string accMetric, string brain)
    {
        var b = rows.Where(r => r.Target == brain && r.Metric == "ceiled").ToDictionary(r => (r.Model, r.Layer), r => r.Value);
        return rows.Where(r => r.Target == acc && r.Metric == accMetric && b.ContainsKey((r.Model, r.Layer)))
            .Select(r => (r.Model, r.Layer, r.RelativeDepth, r.Value, b[(r.Model, r.Layer)]))
            .Where(p => double.IsFinite(p.Item4) && double.IsFinite(p.Item5)).ToList();
    }

    static SweepCorrelation Correlate(string scope, string xl, string yl, double[] x, double[] y, SweepAnalysisOptions o, int seed)
    {
        int n = x.Length;
        if (n < 3)
            return new SweepCorrelation(scope, xl, yl, n, double.NaN, double.NaN, double.NaN, o.Confidence, double.NaN, 0, seed, $"{n} points: too few for a correlation");
        double rho;
        try { rho = Correlation.Spearman(x, y, scope); }
        catch (LayerLensException e)
        {
            return new SweepCorrelation(scope, xl, yl, n, double.NaN, double.NaN, double.NaN, o.Confidence, double.NaN, 0, seed, e.Message);
        }
        double low = double.NaN, high = double.NaN, p = double.NaN;
        var notes = new List<string>();
        try
        {
            var bi = Resampling.Bootstrap(n, idx => Correlation.Spearman(idx.Select(i => x[i]).ToArray(), idx.Select(i => y[i]).ToArray(), scope), o.Bootstrap, o.Confidence, seed);
            low = bi.Low; high = bi.High;
        }
        catch (LayerLensException e) { notes.Add("no interval: " + e.Message); }
        if (o.Permutations > 0)
        {
            try { p = Resampling.PermutationTest(x, y, (a, b) => Correlation.Spearman(a, b), o.Permutations, seed).PValue; }
            catch (LayerLensException e) { notes.Add("no p-value: " + e.Message); }
        }
        return new SweepCorrelation(scope, xl, yl, n, rho, low, high, o.Confidence, p, o.Bootstrap, seed, string.Join("; ", notes));
    }
}
