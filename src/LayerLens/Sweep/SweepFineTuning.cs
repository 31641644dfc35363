using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using LayerLens.Brain;
using LayerLens.Datasets;
using LayerLens.Features;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Models.Onnx;
using LayerLens.Readout;
using LayerLens.Training;

namespace LayerLens.Sweep;

/// <summary>
/// The sweep's finetune: section for one model: fine-tune (FineTuner, resumable from its checkpoints), score the best
/// checkpoint on the test images, extract the fine-tuned penultimate layer for the sweep's images and score it on the
/// brain target. The result is one unit file, written atomically.
/// </summary>
static class SweepFineTuning
{
    sealed record Result(string Fingerprint, FineTuneScore Score, List<SweepRow> Rows);

    public static (FineTuneScore Score, List<SweepRow> Rows, bool Resumed) Run(SweepConfig config, SweepFineTune ft, SweepModel model, NeuralTarget brain,
        string brainKey, ImageDataset images, string state, IReadOnlyList<SweepRow> frozenRows, IProgress<WorkProgress>? progress, CancellationToken ct)
    {
        var dir = Path.Combine(state, "finetune", model.Name);
        Directory.CreateDirectory(dir);
        var resultPath = Path.Combine(dir, "result.json");
        var trainSet = SweepRunner.Wrap(config, ft.Line, () => ImageDataset.Open(ft.Train.Path, ft.Train.Root));
        var valSet = SweepRunner.Wrap(config, ft.Line, () => ImageDataset.Open(ft.Validation.Path, ft.Validation.Root));
        var testSet = SweepRunner.Wrap(config, ft.Line, () => ImageDataset.Open(ft.Test.Path, ft.Test.Root));
        string Ids(ImageDataset d) => FeatureProvenance.Sha256Hex(d.Items.Select(i => i.Id + "\t" + i.Columns.GetValueOrDefault(ft.Target)));
        var modelFile = model.Spec.StartsWith("zoo:", StringComparison.Ordinal) ? Zoo.ModelZoo.Default().Resolve(model.Spec[4..]) : model.Spec;
        var fingerprint = FeatureProvenance.Sha256Hex(new[]
        {
            File.Exists(modelFile) ? FeatureProvenance.FileSha256(modelFile) : modelFile, model.Preprocessing.ToJson(), model.Reducer,
            JsonSerializer.Serialize(ft.Options), ft.Target, Ids(trainSet), Ids(valSet), Ids(testSet),
            FeatureProvenance.Sha256Hex(images.Items.Select(i => i.Id)), brainKey, config.Seed.ToString(CultureInfo.InvariantCulture),
        });
        if (File.Exists(resultPath))
        {
            try
            {
                var old = JsonSerializer.Deserialize<Result>(File.ReadAllText(resultPath), SweepRunner.Json);
                if (old != null && old.Fingerprint == fingerprint) return (WithFrozen(old.Score, frozenRows, model.Name), old.Rows, true);
            }
            catch (JsonException) { }
        }
        // Settings changed since the checkpoints were written: start that model's fine-tuning over.
        var fpPath = Path.Combine(dir, "fingerprint.txt");
        if (File.Exists(fpPath) && File.ReadAllText(fpPath) != fingerprint)
            foreach (var sub in new[] { "checkpoints" }.Select(s => Path.Combine(dir, s)).Where(Directory.Exists)) Directory.Delete(sub, true);
        if (!File.Exists(fpPath) || File.ReadAllText(fpPath) != fingerprint)
        {
            foreach (var stale in new[] { "penultimate.h5", "model.onnx" }.Select(s => Path.Combine(dir, s)).Where(File.Exists)) File.Delete(stale);
            if (Directory.Exists(Path.Combine(dir, "penultimate.h5.parts"))) Directory.Delete(Path.Combine(dir, "penultimate.h5.parts"), true);
        }
        AtomicFile.WriteAllText(fpPath, fingerprint);

        bool classes = ft.Options.Head == HeadKind.Classes;
        using var graph = ModelLoader.Load(model.Spec);
        using var train = SweepRunner.Wrap(config, ft.Line, () => new DatasetTrainingData(trainSet, ft.Target, model.Preprocessing, classes));
        using var val = SweepRunner.Wrap(config, ft.Line, () => new DatasetTrainingData(valSet, ft.Target, model.Preprocessing, classes, train.ClassNames));
        using var test = SweepRunner.Wrap(config, ft.Line, () => new DatasetTrainingData(testSet, ft.Target, model.Preprocessing, classes, train.ClassNames, cacheImages: false));
        var options = classes ? ft.Options with { Classes = train.ClassNames.Count } : ft.Options;
        using var tuner = SweepRunner.Wrap(config, ft.Line, () => new FineTuner(graph, options, DatasetTrainingData.ValueStage(model.Preprocessing)));
        var lines = new SyncProgress<string>(line =>
        {
            var m = Regex.Match(line, @"^epoch (\d+)/(\d+)");
            if (m.Success)
                progress?.Report(new WorkProgress("fine-tune epochs", int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
                    int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), "epochs", $"{model.Name}: {line}"));
        });
        var ckpt = Path.Combine(dir, "checkpoints");
        var history = tuner.Fit(train, val, ckpt, lines, ct);
        tuner.LoadBest(ckpt);
        ct.ThrowIfCancellationRequested();
        double testValue = tuner.Evaluate(test);

        // The fine-tuned network as a file (ONNX imports only), which also identifies the penultimate features' provenance.
        string? exported = null;
        if (graph.Source is Models.Onnx.Proto.ModelProto)
        {
            var (w, b) = tuner.Head();
            exported = Path.Combine(dir, "model.onnx");
            var tmp = Path.Combine(dir, $".model.onnx.{Environment.ProcessId}.tmp");
            OnnxExporter.Save(graph, tmp, tuner.FeatureLayer, w, b, tuner.FeatureRank, probabilities: classes);
            File.Move(tmp, exported, overwrite: true);
            w.Dispose(); b.Dispose();
        }
        var storePath = Path.Combine(dir, "penultimate.h5");
        var extraction = new ExtractionOptions
        {
            LayerSelector = tuner.FeatureLayer, Reducer = model.Reducer, Seed = config.Seed, BatchSize = model.BatchSize, Threads = config.Threads,
            Preprocessing = model.Preprocessing,
        };
        var adapter = progress == null ? null : new SyncProgress<ExtractionProgress>(p =>
            progress.Report(new WorkProgress("extract", p.Done, p.Total, "images", $"{model.Name} fine-tuned")));
        FeatureExtractor.Run(graph, exported ?? Path.Combine(ckpt, "best.ckpt"), images, storePath, extraction, adapter, ct);
        var src = FeatureSource.Open(storePath, null);
        var layer = src.Layers.Single();
        using var full = SweepRunner.Wrap(config, brain.Line, () => NeuralAssembly.Read(brain.Path));
        var assembly = SweepRunner.Wrap(config, brain.Line, () => full.SelectRegion(brain.Region));
        BrainScore score;
        try
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            score = SweepRunner.Wrap(config, brain.Line, () => SweepRunner.Neural(brain, src.Read(layer.Name), src.Ids, assembly, config.Seed));
        }
        finally
        {
            if (!ReferenceEquals(assembly, full)) assembly.Dispose();
        }
        var testMetric = classes ? "finetuned_test_accuracy" : "finetuned_test_spearman";
        var rows = new List<SweepRow>
        {
            new(model.Name, layer.Name, layer.OpType, layer.DepthIndex, layer.RelativeDepth, ft.Target, testMetric, testValue, double.NaN, test.Count),
        };
        rows.AddRange(SweepRunner.NeuralRows(model.Name, layer, brain.Name, score, "finetuned_"));
        var result = new FineTuneScore(model.Name, layer.Name, testMetric, testValue, test.Count, brain.Name, score.Ceiled, score.CeiledError,
            double.NaN, history.Count, exported);
        AtomicFile.WriteAllText(resultPath, JsonSerializer.Serialize(new Result(fingerprint, result, rows), SweepRunner.Json));
        return (WithFrozen(result, frozenRows, model.Name), rows, false);
    }

    /// <summary>Adds the untuned network's score at the same layer (from the sweep's own rows) for comparison.</summary>
    static FineTuneScore WithFrozen(FineTuneScore s, IReadOnlyList<SweepRow> rows, string model)
    {
        var frozen = rows.FirstOrDefault(r => r.Model == model && r.Layer == s.Layer && r.Target == s.BrainTarget && r.Metric == "ceiled");
        return s with { FrozenBrainCeiled = frozen?.Value ?? double.NaN };
    }
}
