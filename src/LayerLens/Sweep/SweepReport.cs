using System.Globalization;
using LayerLens.Reports;

namespace LayerLens.Sweep;

/// <summary>The sweep's plots and its self-contained HTML report.</summary>
static class SweepReport
{
    /// <summary>(file base name, chart) pairs: accuracy × brain similarity, both against relative depth, and fine-tuned models.</summary>
    public static List<(string Name, ChartImage Chart)> Charts(SweepAnalysis a, IReadOnlyList<SweepRow> rows, SweepConfig config)
    {
        var charts = new List<(string, ChartImage)>();
        var frozen = rows.Where(r => !r.Metric.StartsWith("finetuned_", StringComparison.Ordinal)).ToList();
        if (a.AccuracyTarget != null && a.BrainTarget != null)
        {
            var pairs = SweepAnalysis.Pairs(frozen, a.AccuracyTarget, a.AccuracyMetric!, a.BrainTarget);
            var series = config.Models.Select(m => new ChartSeries(m.Name,
                pairs.Where(p => p.Model == m.Name).Select(p => p.Brain).ToList(), pairs.Where(p => p.Model == m.Name).Select(p => p.Acc).ToList())).ToList();
            var all = a.Correlations.FirstOrDefault(c => c.Scope == "all layers");
            var title = all != null && double.IsFinite(all.Rho)
                ? string.Create(CultureInfo.InvariantCulture, $"Accuracy vs brain similarity (Spearman {all.Rho:0.00}, n = {all.N})")
                : "Accuracy vs brain similarity";
            charts.Add(("accuracy_vs_brain", Reports.Charts.Scatter(title, $"{a.BrainTarget} similarity (ceiled)", $"{a.AccuracyTarget} accuracy ({a.AccuracyMetric})", series)));
        }
        if (a.AccuracyTarget != null)
            charts.Add(("accuracy_vs_depth", DepthChart(frozen, config, a.AccuracyTarget, a.AccuracyMetric!, $"{a.AccuracyTarget} accuracy ({a.AccuracyMetric})")));
        if (a.BrainTarget != null)
            charts.Add(("brain_vs_depth", DepthChart(frozen, config, a.BrainTarget, "ceiled", $"{a.BrainTarget} similarity (ceiled)")));
        var ft = rows.Where(r => r.Metric.StartsWith("finetuned_test_", StringComparison.Ordinal)).ToList();
        if (ft.Count > 0)
        {
            var brain = rows.Where(r => r.Metric == "finetuned_ceiled").ToDictionary(r => r.Model, r => r.Value);
            var series = ft.Where(r => brain.ContainsKey(r.Model))
                .Select(r => new ChartSeries(r.Model, new[] { brain[r.Model] }, new[] { r.Value })).ToList();
            charts.Add(("finetuned_accuracy_vs_brain", Reports.Charts.Scatter("Fine-tuned models: test accuracy vs penultimate-layer brain similarity",
                "penultimate-layer brain similarity after fine-tuning (ceiled)", $"test {ft[0].Metric["finetuned_test_".Length..]}", series)));
        }
        return charts;
    }

    static ChartImage DepthChart(IReadOnlyList<SweepRow> rows, SweepConfig config, string target, string metric, string yLabel)
    {
        var series = new List<ChartSeries>();
        foreach (var m in config.Models)
        {
            var pts = rows.Where(r => r.Model == m.Name && r.Target == target && r.Metric == metric)
                .OrderBy(r => r.RelativeDepth).ThenBy(r => r.DepthIndex).ToList();
            series.Add(new ChartSeries(m.Name, pts.Select(p => p.RelativeDepth).ToList(), pts.Select(p => p.Value).ToList()));
        }
        return Reports.Charts.Scatter($"{yLabel} against relative depth", "relative depth (0 = input, 1 = output)", yLabel, series, connect: true);
    }

    public static HtmlReport Html(SweepConfig config, SweepSummary s, int images)
    {
        var inv = CultureInfo.InvariantCulture;
        var r = new HtmlReport("Layer sweep: " + Path.GetFileName(config.Source));
        r.Section("Sweep")
            .Paragraph("Every selected layer of every model was scored on every target: per-image scores by a cross-validated readout, neural " +
                       "recordings by Brain-Score-style similarity with a split-half ceiling over repetitions.")
            .Facts(new (string, string)[]
            {
                ("config", config.Source), ("images", $"{images} from {config.Images.Path}"), ("seed", config.Seed.ToString(inv)),
                ("models", string.Join(", ", config.Models.Select(m => $"{m.Name} ({m.Layers}, {m.Reducer}, {m.Preprocessing.Preset})"))),
                ("targets", string.Join(", ", config.Targets.Select(Describe))),
                ("rows", s.Results.RowCount.ToString(inv)), ("results", $"{Path.GetFileName(s.ResultsCsv)}, {Path.GetFileName(s.ResultsParquet)}"),
                ("units", $"{s.UnitsComputed} computed, {s.UnitsResumed} taken from an earlier run"),
            });

        r.Section("Memorability accuracy and brain similarity");
        if (s.AccuracyTarget == null || s.BrainTarget == null)
            r.Paragraph("The sweep needs a score target and a neural target for this analysis.");
        else
        {
            r.Paragraph($"Spearman correlation between {s.AccuracyTarget} accuracy and {s.BrainTarget} similarity over layers: across all layers of all " +
                        "models and within each model. Intervals are percentile bootstraps over layers (layers of one network are not independent, " +
                        "so read them as descriptive); p-values are from permutations of the pairing.");
            r.Table(s.CorrelationTable, "Correlations");
        }
        foreach (var c in s.Charts) r.Chart(c);

        r.Section("Best layer per model").Table(s.BestLayerTable, "Highest primary metric per model and target (spearman or accuracy for scores, ceiled for neural data)");
        r.Section("Penultimate layer");
        if (s.Penultimate.Count == 0) r.Paragraph("No model has a recognisable penultimate layer.");
        else r.Table(s.PenultimateTable, "Each target's primary metric at the layer that feeds the model's last weighted layer");

        if (s.FineTuned.Count > 0)
        {
            r.Section("Fine-tuning")
                .Paragraph("Each listed model was fine-tuned (a new head on its penultimate layer) on the training images, the best validation " +
                           "checkpoint kept, scored on the test images, and its penultimate layer scored again on the brain target.")
                .Table(s.FineTuneTable, "Fine-tuned models");
        }
        r.Section("All results").Table(s.Results, "The tidy table (first rows)");
        return r;
    }

    static string Describe(SweepTarget t) => t switch
    {
        ScoreTarget s => $"{s.Name} ({Path.GetFileName(s.File)}:{s.Column}, {s.Readout}, {s.Cv})",
        NeuralTarget n => $"{n.Name} ({Path.GetFileName(n.Path)}{(n.Region != null ? ", region " + n.Region : "")}, {n.Metric})",
        _ => t.Name,
    };
}
