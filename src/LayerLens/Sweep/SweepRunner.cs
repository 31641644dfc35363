using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using LayerLens.Brain;
using LayerLens.Datasets;
using LayerLens.Features;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Readout;
using LayerLens.Reports;
using LayerLens.Training;
using static TorchSharp.torch;

namespace LayerLens.Sweep;

/// <summary>One row of the sweep's tidy table.</summary>
public sealed record SweepRow(string Model, string Layer, string Op, int DepthIndex, double RelativeDepth, string Target, string Metric,
    double Value, double Error, long N);

/// <summary>
/// Runs a sweep: for each model, all-layer features of the sweep's images go to a resumable feature store; every
/// layer is then scored on every target (one unit of work per model × target, written atomically when done);
/// listed models are fine-tuned; the tidy table, the analysis, the plots and the HTML report are written at the end.
/// A run that is killed or cancelled continues from its finished units and feature-store blocks when run again with
/// the same output folder; a unit whose inputs changed (model, preprocessing, target file, settings) is recomputed.
/// </summary>
public static class SweepRunner
{
    /// <summary>The folder inside the output folder that holds finished units and feature stores.</summary>
    public const string StateDir = "state";

    internal static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = false,
    };

    public static SweepSummary Run(SweepConfig config, string outDir, IProgress<WorkProgress>? progress = null, CancellationToken ct = default)
    {
        Native.TorchRuntime.EnsureLoaded();
        var output = Path.GetFullPath(outDir);
        var state = Path.Combine(output, StateDir);
        Directory.CreateDirectory(state);
        // A unit killed while being written leaves only its temporary file (AtomicFile renames on completion).
        var unitsDir = Path.Combine(state, "units");
        if (Directory.Exists(unitsDir)) foreach (var tmp in Directory.GetFiles(unitsDir, "*.tmp")) File.Delete(tmp);
        var dataset = ImageDataset.Open(config.Images.Path, config.Images.Root);
        var rows = new List<SweepRow>();
        var penultimate = new Dictionary<string, string?>(StringComparer.Ordinal);
        int resumed = 0, computed = 0;
        // Each target's files are hashed once per run, not once per model.
        var targetKeys = config.Targets.ToDictionary(t => t.Name, TargetFingerprint, StringComparer.Ordinal);
        int totalUnits = config.Models.Count * config.Targets.Count;
        int unitsDone = 0;

        for (int mi = 0; mi < config.Models.Count; mi++)
        {
            ct.ThrowIfCancellationRequested();
            var model = config.Models[mi];
            progress?.Report(new WorkProgress("models", mi, config.Models.Count, "models", model.Name));
            var (storePath, pen) = Extract(config, model, dataset, state, progress, ct);
            penultimate[model.Name] = pen;
            var store = FeatureStore.Open(storePath);
            var modelKey = ModelFingerprint(store.Provenance);
            foreach (var target in config.Targets)
            {
                ct.ThrowIfCancellationRequested();
                progress?.Report(new WorkProgress("readouts", unitsDone, totalUnits, "units", $"{model.Name} / {target.Name}"));
                var unitPath = Path.Combine(state, "units", $"{model.Name}__{target.Name}.json");
                var fingerprint = FeatureProvenance.Sha256Hex(new[] { modelKey, targetKeys[target.Name], config.Seed.ToString(CultureInfo.InvariantCulture) });
                var done = ReadUnit(unitPath, fingerprint);
                if (done != null) { rows.AddRange(done); resumed++; }
                else
                {
                    var unitRows = ScoreUnit(config, model, target, storePath, progress, ct);
                    WriteUnit(unitPath, fingerprint, unitRows);
                    rows.AddRange(unitRows);
                    computed++;
                }
                unitsDone++;
                progress?.Report(new WorkProgress("readouts", unitsDone, totalUnits, "units", $"{model.Name} / {target.Name}"));
            }
        }
        progress?.Report(new WorkProgress("models", config.Models.Count, config.Models.Count, "models"));

        var analysisNames = SweepAnalysis.Targets(config);
        var fineTuned = new List<FineTuneScore>();
        if (config.FineTune is { } ft)
        {
            var brainName = ft.Brain ?? analysisNames.Brain
                ?? throw new LayerLensException($"{config.Source}:{ft.Line}: finetune needs a neural target to score the penultimate layer on (add one, or finetune.brain)", ErrorKind.BadInput);
            var brain = (NeuralTarget)config.Targets.First(t => t.Name == brainName);
            for (int i = 0; i < ft.Models.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                var model = config.Models.First(m => m.Name == ft.Models[i]);
                progress?.Report(new WorkProgress("fine-tuning", i, ft.Models.Count, "models", model.Name));
                var (score, ftRows, wasResumed) = SweepFineTuning.Run(config, ft, model, brain, targetKeys[brain.Name], dataset, state, rows, progress, ct);
                fineTuned.Add(score);
                rows.AddRange(ftRows);
                if (wasResumed) resumed++; else computed++;
            }
            progress?.Report(new WorkProgress("fine-tuning", ft.Models.Count, ft.Models.Count, "models"));
        }

        progress?.Report(new WorkProgress("report", 0, 1, "steps"));
        var table = SweepTables.Results();
        foreach (var r in rows) table.Add(r.Model, r.Layer, r.Op, r.DepthIndex, r.RelativeDepth, r.Target, r.Metric, r.Value, r.Error, r.N);
        var resultsCsv = Path.Combine(output, "results.csv");
        var resultsParquet = Path.Combine(output, "results.parquet");
        table.WriteCsv(resultsCsv);
        table.WriteParquet(resultsParquet);

        var analysis = SweepAnalysis.Compute(config, rows, penultimate, fineTuned);
        var charts = SweepReport.Charts(analysis, rows, config);
        var plots = Path.Combine(output, "plots");
        foreach (var (name, chart) in charts) chart.Save(Path.Combine(plots, name));
        var summary = new SweepSummary
        {
            OutputDir = output, ResultsCsv = resultsCsv, ResultsParquet = resultsParquet, ReportPath = Path.Combine(output, "report.html"),
            Results = table, Charts = charts.Select(c => c.Chart).ToList(), BestLayers = analysis.BestLayers, Correlations = analysis.Correlations,
            Penultimate = analysis.Penultimate, FineTuned = fineTuned, AccuracyTarget = analysis.AccuracyTarget, BrainTarget = analysis.BrainTarget,
            UnitsResumed = resumed, UnitsComputed = computed,
        };
        summary.BestLayerTable.WriteCsv(Path.Combine(output, "best_layers.csv"));
        summary.CorrelationTable.WriteCsv(Path.Combine(output, "correlations.csv"));
        summary.PenultimateTable.WriteCsv(Path.Combine(output, "penultimate.csv"));
        if (fineTuned.Count > 0) summary.FineTuneTable.WriteCsv(Path.Combine(output, "finetune.csv"));
        SweepReport.Html(config, summary, dataset.Count).Save(summary.ReportPath);
        WriteRunRecord(config, output, dataset.Count);
        progress?.Report(new WorkProgress("report", 1, 1, "steps"));
        return summary;
    }

    // ---------------------------------------------------------------- features

    /// <summary>Extracts (or resumes, or reuses) a model's feature store; returns its path and the model's penultimate layer.</summary>
    static (string Store, string? Penultimate) Extract(SweepConfig config, SweepModel model, ImageDataset dataset, string state,
        IProgress<WorkProgress>? progress, CancellationToken ct)
    {
        var storePath = Path.Combine(state, "features", model.Name + ".h5");
        Directory.CreateDirectory(Path.GetDirectoryName(storePath)!);
        using var graph = ModelLoader.Load(model.Spec);
        var modelFile = model.Spec.StartsWith("zoo:", StringComparison.Ordinal) ? Zoo.ModelZoo.Default().Resolve(model.Spec[4..]) : model.Spec;
        string? pen = null;
        try { pen = FineTuner.PenultimateLayer(graph); }
        catch (LayerLensException) { }
        var selector = model.Layers;
        var selected = Wrap(config, model.Line, () => LayerSelector.Parse(selector).Select(graph.Layers));
        if (pen != null && !selected.Any(l => l.Name == pen) && pen.IndexOfAny(new[] { ',', '*', '?' }) < 0) selector += "," + pen;
        ImageDataset? reference = null;
        if (model.PcaReference is { } pr)
        {
            reference = Wrap(config, model.Line, () => ImageDataset.Open(pr.Path, pr.Root));
            if (model.PcaReferenceCount > 0) reference = reference.Take(model.PcaReferenceCount);
        }
        var options = new ExtractionOptions
        {
            LayerSelector = selector, Reducer = model.Reducer, Seed = config.Seed, BatchSize = model.BatchSize, Threads = config.Threads,
            Preprocessing = model.Preprocessing, PcaReference = reference,
        };
        var adapter = progress == null ? null : new SyncProgress<ExtractionProgress>(p =>
            progress.Report(new WorkProgress("extract", p.Done, p.Total, "images", model.Name)));
        var existing = File.Exists(storePath) ? FeatureStore.Open(storePath) : null;
        if (existing != null && ProbeDifference(graph, modelFile, dataset, options, existing.Provenance) is { } diff)
        {
            // The config changed for this model: its old store (and the units computed from it) no longer apply.
            progress?.Report(new WorkProgress("extract", 0, dataset.Count, "images", $"{model.Name}: settings changed ({diff}); extracting again"));
            File.Delete(storePath);
        }
        // Likewise the blocks of an interrupted extraction made with other settings.
        var runFile = Path.Combine(FeatureExtractor.PartsDir(storePath), "run.json");
        if (File.Exists(runFile))
        {
            FeatureProvenance? unfinished = null;
            try { unfinished = JsonDocument.Parse(File.ReadAllText(runFile)).RootElement.GetProperty("Provenance").Deserialize<FeatureProvenance>(); }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException) { }
            if (unfinished == null || ProbeDifference(graph, modelFile, dataset, options, unfinished) != null)
                Directory.Delete(FeatureExtractor.PartsDir(storePath), recursive: true);
        }
        Wrap(config, model.Line, () => FeatureExtractor.Run(graph, modelFile, dataset, storePath, options, adapter, ct));
        return (storePath, pen);
    }

    static string? ProbeDifference(Models.Engine.ModelGraph graph, string modelFile, ImageDataset dataset, ExtractionOptions options, FeatureProvenance p)
    {
        var layers = LayerSelector.Parse(options.LayerSelector).Select(graph.Layers).Select(l => l.Name).ToArray();
        var sha = File.Exists(modelFile) ? FeatureProvenance.FileSha256(modelFile) : FeatureProvenance.Sha256Hex(new[] { modelFile });
        if (p.ModelSha256 != sha) return "model file";
        if (p.Preprocessing != options.Preprocessing.ToJson()) return "preprocessing";
        if (p.Reducer != FeatureReducer.Parse(options.Reducer, options.Seed).Spec) return "reducer";
        if (p.Seed != options.Seed) return "seed";
        if (!p.Layers.SequenceEqual(layers)) return "layers";
        if (p.IdsSha256 != FeatureProvenance.Sha256Hex(dataset.Items.Select(i => i.Id))) return "images";
        var reference = options.PcaReference != null && FeatureReducer.Parse(options.Reducer, options.Seed).NeedsFit
            ? FeatureProvenance.Sha256Hex(options.PcaReference.Items.Select(i => i.Id)) : "";
        if (p.PcaReferenceIdsSha256 != reference) return "PCA reference images";
        return null;
    }

    static string ModelFingerprint(FeatureProvenance p) =>
        FeatureProvenance.Sha256Hex(new[] { p.ModelSha256, p.Preprocessing, p.Reducer, p.Seed.ToString(CultureInfo.InvariantCulture), string.Join("\u0001", p.Layers), p.IdsSha256, p.DType });

    internal static string TargetFingerprint(SweepTarget t)
    {
        var files = t switch
        {
            ScoreTarget s => new[] { s.File },
            NeuralTarget n when Directory.Exists(n.Path) => new[] { "presentations.csv", "neuroids.csv", "responses.npy" }.Select(f => Path.Combine(n.Path, f)).Where(File.Exists).ToArray(),
            NeuralTarget n => new[] { n.Path },
            _ => Array.Empty<string>(),
        };
        var settings = JsonSerializer.Serialize(t with { Line = 0 }, t.GetType(), Json);
        return FeatureProvenance.Sha256Hex(new[] { settings }.Concat(files.Select(FeatureProvenance.FileSha256)));
    }

    // ---------------------------------------------------------------- scoring

    static List<SweepRow> ScoreUnit(SweepConfig config, SweepModel model, SweepTarget target, string storePath, IProgress<WorkProgress>? progress, CancellationToken ct)
    {
        var src = FeatureSource.Open(storePath, null);
        var rows = new List<SweepRow>();
        switch (target)
        {
            case ScoreTarget s:
            {
                var kind = s.Readout switch { "pls" => ReadoutModel.Pls, "logistic" => ReadoutModel.Logistic, _ => ReadoutModel.Ridge };
                var table = Wrap(config, target.Line, () => TargetTable.Read(s.File, s.IdColumn, s.Column, s.DropMissing, kind == ReadoutModel.Logistic));
                var index = Wrap(config, target.Line, () => table.RowsIn(src.Ids, src.Path));
                var folds = Wrap(config, target.Line, () => CrossValidation.Parse(s.Cv, table.Ids,
                    name => table.Columns.TryGetValue(name, out var col) ? col : throw new LayerLensException($"{table.Path}: no column '{name}' for cv '{s.Cv}'", ErrorKind.BadInput),
                    config.Seed));
                using var idx = tensor(index);
                for (int li = 0; li < src.Layers.Count; li++)
                {
                    ct.ThrowIfCancellationRequested();
                    var layer = src.Layers[li];
                    progress?.Report(new WorkProgress("layers", li + 1, src.Layers.Count, "layers", $"{model.Name} / {target.Name}: {layer.Name}"));
                    using var scope = NewDisposeScope();
                    var X = src.Read(layer.Name).index_select(0, idx);
                    var metrics = CrossValidatedReadout.Run(X, table.Values, folds, kind, what: $"{model.Name} layer {layer.Name}, target {target.Name}");
                    foreach (var m in metrics)
                        rows.Add(Row(model, layer, target, m.Metric, m.Summary.Mean, m.Summary.StandardError, table.Ids.Length));
                    if (s.Permutations > 0 && kind != ReadoutModel.Logistic)
                    {
                        var observed = metrics.First(m => m.Metric == "spearman").Summary.Mean;
                        var nulls = PermutationNull(X, table.Values, folds, kind, s.Permutations, config.Seed);
                        var sorted = nulls.OrderBy(v => v).ToArray();
                        double lo = Stats.Resampling.Quantile(sorted, 0.025), hi = Stats.Resampling.Quantile(sorted, 0.975);
                        double p = (1.0 + nulls.Count(v => v >= observed)) / (1.0 + nulls.Length);
                        rows.Add(Row(model, layer, target, "perm_null_low", lo, double.NaN, nulls.Length));
                        rows.Add(Row(model, layer, target, "perm_null_high", hi, double.NaN, nulls.Length));
                        rows.Add(Row(model, layer, target, "perm_p", p, double.NaN, nulls.Length));
                    }
                }
                break;
            }
            case NeuralTarget n:
            {
                using var full = Wrap(config, target.Line, () => NeuralAssembly.Read(n.Path));
                var assembly = Wrap(config, target.Line, () => full.SelectRegion(n.Region));
                try
                {
                    for (int li = 0; li < src.Layers.Count; li++)
                    {
                        ct.ThrowIfCancellationRequested();
                        var layer = src.Layers[li];
                        progress?.Report(new WorkProgress("layers", li + 1, src.Layers.Count, "layers", $"{model.Name} / {target.Name}: {layer.Name}"));
                        using var scope = NewDisposeScope();
                        var X = src.Read(layer.Name);
                        var score = Wrap(config, target.Line, () => Neural(n, X, src.Ids, assembly, config.Seed));
                        rows.AddRange(NeuralRows(model.Name, layer, target.Name, score, ""));
                    }
                }
                finally
                {
                    if (!ReferenceEquals(assembly, full)) assembly.Dispose();
                }
                break;
            }
        }
        return rows;
    }

    /// <summary>
    /// The cross-validated Spearman (mean over folds) of the same readout refitted on <paramref name="permutations"/>
    /// seeded permutations of the targets: the null distribution of the reported score, biases of cross-validation
    /// included. Ridge fits all permutations at once per fold (its alpha is chosen per target, so this equals separate
    /// fits); PLS is fitted once per permutation and fold.
    /// </summary>
    internal static double[] PermutationNull(Tensor X, double[] y, IReadOnlyList<Fold> folds, ReadoutModel kind, int permutations, int seed)
    {
        int n = y.Length;
        var rng = new Random(seed);
        var perms = new double[permutations][];
        for (int k = 0; k < permutations; k++) { perms[k] = (double[])y.Clone(); rng.Shuffle(perms[k]); }
        var sums = new double[permutations];
        foreach (var f in folds)
        {
            using var scope = NewDisposeScope();
            var tr = tensor(f.Train.Select(i => (long)i).ToArray());
            var te = tensor(f.Test.Select(i => (long)i).ToArray());
            var Xtr = X.index_select(0, tr); var Xte = X.index_select(0, te);
            var Y = new double[f.Train.Length * permutations];
            for (int i = 0; i < f.Train.Length; i++) for (int k = 0; k < permutations; k++) Y[i * permutations + k] = perms[k][f.Train[i]];
            var Ytr = tensor(Y, new long[] { f.Train.Length, permutations }, dtype: ScalarType.Float64);
            double[] pred;
            if (kind == ReadoutModel.Ridge)
            {
                using var m = RidgeCv.Fit(Xtr, Ytr, new RidgeCvOptions(), "permutation null");
                pred = m.Predict(Xte).contiguous().data<double>().ToArray();
            }
            else
            {
                pred = new double[f.Test.Length * permutations];
                int comps = Math.Min(25, Math.Min(f.Train.Length - 1, (int)X.shape[1]));
                for (int k = 0; k < permutations; k++)
                {
                    using var m = PlsRegression.Fit(Xtr, Ytr.select(1, k).contiguous(), comps, "permutation null");
                    var pk = m.Predict(Xte).flatten().data<double>().ToArray();
                    for (int i = 0; i < pk.Length; i++) pred[i * permutations + k] = pk[i];
                }
            }
            var truth = new double[f.Test.Length];
            var column = new double[f.Test.Length];
            for (int k = 0; k < permutations; k++)
            {
                for (int i = 0; i < f.Test.Length; i++) { truth[i] = perms[k][f.Test[i]]; column[i] = pred[i * permutations + k]; }
                try { sums[k] += Stats.Correlation.Spearman(truth, column); }
                catch (LayerLensException) { sums[k] = double.NaN; } // a constant prediction: this permutation has no score
            }
        }
        return sums.Where(double.IsFinite).Select(v => v / folds.Count).ToArray();
    }

    internal static BrainScore Neural(NeuralTarget n, Tensor X, IReadOnlyList<string> ids, NeuralAssembly assembly, int seed) =>
        BrainMetrics.Score(n.Metric, X, ids, assembly, n.Splits, seed);

    internal static IEnumerable<SweepRow> NeuralRows(string model, LayerInfo layer, string target, BrainScore s, string prefix)
    {
        yield return new SweepRow(model, layer.Name, layer.OpType, layer.DepthIndex, layer.RelativeDepth, target, prefix + "ceiled", s.Ceiled, s.CeiledError, s.Stimuli);
        yield return new SweepRow(model, layer.Name, layer.OpType, layer.DepthIndex, layer.RelativeDepth, target, prefix + "raw", s.Raw, s.RawError, s.Stimuli);
        yield return new SweepRow(model, layer.Name, layer.OpType, layer.DepthIndex, layer.RelativeDepth, target, prefix + "ceiling", s.Ceiling, double.NaN, s.Stimuli);
    }

    static SweepRow Row(SweepModel model, LayerInfo layer, SweepTarget target, string metric, double value, double error, long n) =>
        new(model.Name, layer.Name, layer.OpType, layer.DepthIndex, layer.RelativeDepth, target.Name, metric, value, error, n);

    // ---------------------------------------------------------------- unit files

    sealed record UnitFile(string Fingerprint, List<SweepRow> Rows);

    internal static List<SweepRow>? ReadUnit(string path, string fingerprint)
    {
        if (!File.Exists(path)) return null;
        try
        {
            var u = JsonSerializer.Deserialize<UnitFile>(File.ReadAllText(path), Json);
            return u != null && u.Fingerprint == fingerprint ? u.Rows : null;
        }
        catch (JsonException)
        {
            return null; // written atomically, so only a foreign or hand-edited file gets here: recompute it
        }
    }

    internal static void WriteUnit(string path, string fingerprint, List<SweepRow> rows) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new UnitFile(fingerprint, rows), Json));

    static void WriteRunRecord(SweepConfig config, string output, int images)
    {
        var record = new Dictionary<string, object?>
        {
            ["config"] = config.Source, ["seed"] = config.Seed, ["images"] = images, ["image_source"] = config.Images.Path,
            ["models"] = config.Models.Select(m => new { m.Name, m.Spec, m.Layers, m.Reducer, preprocessing = m.Preprocessing.ToJson() }).ToList(),
            ["targets"] = config.Targets.Select(t => t.Name).ToList(),
            ["layerlens"] = FeatureProvenance.CurrentVersion,
        };
        AtomicFile.WriteAllText(Path.Combine(output, "sweep.json"), JsonSerializer.Serialize(record, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Prefixes a bad-input error with the config file and line of the entry it came from.</summary>
    internal static T Wrap<T>(SweepConfig config, int line, Func<T> f)
    {
        try { return f(); }
        catch (LayerLensException e) when (!e.Message.StartsWith(config.Source, StringComparison.Ordinal))
        {
            throw new LayerLensException($"{config.Source}:{line}: {e.Message}", e.Kind, e);
        }
    }
}
