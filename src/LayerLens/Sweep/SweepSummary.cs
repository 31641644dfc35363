using LayerLens.Reports;

namespace LayerLens.Sweep;

/// <summary>The best layer of a model for one target, by the target's primary metric.</summary>
public sealed record BestLayer(string Model, string Target, string Metric, string Layer, string Op, double RelativeDepth, double Value, double Error);

/// <summary>A Spearman correlation between two per-layer (or per-model) quantities, with a bootstrap interval and a permutation p-value.</summary>
/// <param name="Scope">"all layers", a model's name, or "fine-tuned models".</param>
/// <param name="X">What is on the first axis, as "target/metric".</param>
/// <param name="Y">What is on the second axis.</param>
/// <param name="N">Number of points (layers or models).</param>
/// <param name="Rho">Spearman's rho.</param>
/// <param name="Low">Lower end of the percentile bootstrap interval.</param>
/// <param name="High">Upper end of the interval.</param>
/// <param name="Confidence">Coverage of the interval (0.95).</param>
/// <param name="PValue">Two-sided permutation p-value.</param>
/// <param name="Resamples">Bootstrap resamples.</param>
/// <param name="Seed">Seed of the bootstrap and the permutations.</param>
/// <param name="Note">Why an interval or p-value is missing (too few points), else empty.</param>
public sealed record SweepCorrelation(string Scope, string X, string Y, int N, double Rho, double Low, double High, double Confidence,
    double PValue, int Resamples, int Seed, string Note);

/// <summary>A target's primary metric at a model's penultimate layer (what feeds its last weighted layer).</summary>
public sealed record PenultimateScore(string Model, string Layer, double RelativeDepth, string Target, string Metric, double Value, double Error);

/// <summary>A fine-tuned model: held-out test accuracy and the brain similarity of its penultimate layer after fine-tuning.</summary>
public sealed record FineTuneScore(string Model, string Layer, string TestMetric, double TestValue, int TestImages, string BrainTarget,
    double BrainCeiled, double BrainError, double FrozenBrainCeiled, int Epochs, string? ExportedModel);

/// <summary>What a sweep wrote and found.</summary>
public sealed record SweepSummary
{
    public required string OutputDir { get; init; }
    /// <summary>The tidy table: model, layer, op, depth_index, relative_depth, target, metric, value, error, n.</summary>
    public required string ResultsCsv { get; init; }
    public required string ResultsParquet { get; init; }
    /// <summary>The self-contained HTML report.</summary>
    public required string ReportPath { get; init; }
    public required TidyTable Results { get; init; }
    /// <summary>Plots, in the report's order (also saved as PNG and SVG under OutputDir/plots).</summary>
    public required IReadOnlyList<ChartImage> Charts { get; init; }
    public required IReadOnlyList<BestLayer> BestLayers { get; init; }
    /// <summary>Accuracy × brain similarity across all layers, within each model, and (with fine-tuning) across fine-tuned models.</summary>
    public required IReadOnlyList<SweepCorrelation> Correlations { get; init; }
    public required IReadOnlyList<PenultimateScore> Penultimate { get; init; }
    public required IReadOnlyList<FineTuneScore> FineTuned { get; init; }
    /// <summary>The score target and neural target the correlations relate (null when the sweep lacks one).</summary>
    public string? AccuracyTarget { get; init; }
    public string? BrainTarget { get; init; }
    /// <summary>Units (model × target readouts, fine-tunings) taken from an earlier, interrupted run.</summary>
    public int UnitsResumed { get; init; }
    public int UnitsComputed { get; init; }

    /// <summary>The analysis tables as tidy tables (for embedding in another report).</summary>
    public TidyTable BestLayerTable => SweepTables.BestLayers(BestLayers);
    public TidyTable CorrelationTable => SweepTables.Correlations(Correlations);
    public TidyTable PenultimateTable => SweepTables.Penultimate(Penultimate);
    public TidyTable FineTuneTable => SweepTables.FineTune(FineTuned);
}

/// <summary>The analysis records as <see cref="TidyTable"/>s.</summary>
public static class SweepTables
{
    public static TidyTable Results() => new(
        ("model", ColumnKind.Text), ("layer", ColumnKind.Text), ("op", ColumnKind.Text), ("depth_index", ColumnKind.Integer),
        ("relative_depth", ColumnKind.Number), ("target", ColumnKind.Text), ("metric", ColumnKind.Text), ("value", ColumnKind.Number),
        ("error", ColumnKind.Number), ("n", ColumnKind.Integer));

    public static TidyTable BestLayers(IEnumerable<BestLayer> rows)
    {
        var t = new TidyTable(("model", ColumnKind.Text), ("target", ColumnKind.Text), ("metric", ColumnKind.Text), ("layer", ColumnKind.Text),
            ("op", ColumnKind.Text), ("relative_depth", ColumnKind.Number), ("value", ColumnKind.Number), ("error", ColumnKind.Number));
        foreach (var r in rows) t.Add(r.Model, r.Target, r.Metric, r.Layer, r.Op, r.RelativeDepth, r.Value, r.Error);
        return t;
    }

    public static TidyTable Correlations(IEnumerable<SweepCorrelation> rows)
    {
        var t = new TidyTable(("scope", ColumnKind.Text), ("x", ColumnKind.Text), ("y", ColumnKind.Text), ("n", ColumnKind.Integer),
            ("spearman", ColumnKind.Number), ("ci_low", ColumnKind.Number), ("ci_high", ColumnKind.Number), ("confidence", ColumnKind.Number),
            ("p_permutation", ColumnKind.Number), ("resamples", ColumnKind.Integer), ("seed", ColumnKind.Integer), ("note", ColumnKind.Text));
        foreach (var r in rows) t.Add(r.Scope, r.X, r.Y, r.N, r.Rho, r.Low, r.High, r.Confidence, r.PValue, r.Resamples, r.Seed, r.Note);
        return t;
    }

    public static TidyTable Penultimate(IEnumerable<PenultimateScore> rows)
    {
        var t = new TidyTable(("model", ColumnKind.Text), ("layer", ColumnKind.Text), ("relative_depth", ColumnKind.Number),
            ("target", ColumnKind.Text), ("metric", ColumnKind.Text), ("value", ColumnKind.Number), ("error", ColumnKind.Number));
        foreach (var r in rows) t.Add(r.Model, r.Layer, r.RelativeDepth, r.Target, r.Metric, r.Value, r.Error);
        return t;
    }

    public static TidyTable FineTune(IEnumerable<FineTuneScore> rows)
    {
        var t = new TidyTable(("model", ColumnKind.Text), ("layer", ColumnKind.Text), ("test_metric", ColumnKind.Text), ("test_value", ColumnKind.Number),
            ("test_images", ColumnKind.Integer), ("brain_target", ColumnKind.Text), ("brain_ceiled", ColumnKind.Number), ("brain_error", ColumnKind.Number),
            ("frozen_brain_ceiled", ColumnKind.Number), ("epochs", ColumnKind.Integer));
        foreach (var r in rows) t.Add(r.Model, r.Layer, r.TestMetric, r.TestValue, r.TestImages, r.BrainTarget, r.BrainCeiled, r.BrainError, r.FrozenBrainCeiled, r.Epochs);
        return t;
    }
}
