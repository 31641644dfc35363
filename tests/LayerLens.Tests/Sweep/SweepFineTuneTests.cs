using System.Text;
using LayerLens.Brain;
using LayerLens.Datasets;
using LayerLens.Features;
using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Readout;
using LayerLens.Sweep;
using LayerLens.Training;
using static TorchSharp.torch;

namespace LayerLens.Tests.Sweep;

/// <summary>
/// Issue #8 point 6: the sweep's finetune: section fine-tunes each listed model and adds its test accuracy and the
/// brain similarity of its fine-tuned penultimate layer, and their correlation across models.
/// </summary>
public sealed class SweepFineTuneTests(Xunit.Abstractions.ITestOutputHelper log) : IDisposable
{
    readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Square-size images (the target is the drawn square's side) as PNGs with a path,score manifest.</summary>
    void WriteSquares(string name, int n, int seed)
    {
        var (images, targets) = Training.FineTuneTests.Squares(n, seed, 64);
        var dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(dir);
        var sb = new StringBuilder("path,score\n");
        var t = targets.data<float>().ToArray();
        for (int i = 0; i < n; i++)
        {
            var hwc = (images[i].permute(1, 2, 0) * 255).round().clamp(0, 255).to_type(ScalarType.Byte).contiguous().data<byte>().ToArray();
            ImageEncoder.Save(new RgbImage(64, 64, hwc), Path.Combine(dir, $"sq{i:D3}.png"));
            sb.Append($"{name}/sq{i:D3}.png,{t[i]}\n");
        }
        File.WriteAllText(Path.Combine(_dir, name + ".csv"), sb.ToString());
        images.Dispose(); targets.Dispose();
    }

    [Fact]
    public void Finetune_section_adds_test_accuracy_and_penultimate_brain_similarity_per_model_and_their_correlation()
    {
        WriteSquares("train", 128, 1);
        WriteSquares("val", 48, 2);
        WriteSquares("test", 64, 3);
        const int N = 48;
        var ids = SweepFixtures.MakeImages(Path.Combine(_dir, "images"), N, seed: 6);
        var reference = SweepFixtures.Features(Path.Combine(_dir, "images"), Path.Combine(_dir, "reference.h5"), "gap", seed: 2);
        using (var scope = NewDisposeScope())
        {
            var b = SweepFixtures.Standardised(reference, "/layer2/Relu_1_output_0");
            var g = new Generator(4);
            SweepFixtures.WriteNeural(Path.Combine(_dir, "neural"), ids, b.mm(randn(new long[] { b.shape[1], 16 }, dtype: ScalarType.Float64, generator: g)) / Math.Sqrt(b.shape[1]), 4, 1.0, 7);
        }
        string Model(string name, int size) => $"""
              - name: {name}
                model: {SweepFixtures.Model}
                layers: /Flatten_output_0
                preprocessing: {"{"}preset: imagenet, resize: {size}, crop: {size}{"}"}
            """;
        File.WriteAllText(Path.Combine(_dir, "sweep.yaml"), $"""
            seed: 2
            threads: 2
            images: images
            models:
            {Model("tiny-64", 64)}
            {Model("tiny-48", 48)}
            {Model("tiny-56", 56)}
            targets:
              - name: IT
                neural: neural
                metric: pls
                splits: 4
            finetune:
              train: train.csv
              val: val.csv
              test: test.csv
              target: score
              train_layers: all
              epochs: 4
              lr: 0.003
              backbone_lr_scale: 1
              patience: 0
              seed: 5
            """);
        var config = SweepConfig.Load(Path.Combine(_dir, "sweep.yaml"));
        var summary = SweepRunner.Run(config, Path.Combine(_dir, "out"));
        foreach (var f in summary.FineTuned)
            log.WriteLine($"{f.Model}: test {f.TestMetric} {f.TestValue:0.000}, {f.BrainTarget} ceiled {f.BrainCeiled:0.000} (frozen {f.FrozenBrainCeiled:0.000}), {f.Epochs} epochs");

        Assert.Equal(new[] { "tiny-64", "tiny-48", "tiny-56" }, summary.FineTuned.Select(f => f.Model));
        foreach (var f in summary.FineTuned)
        {
            Assert.Equal("/Flatten_output_0", f.Layer);
            Assert.Equal(("finetuned_test_spearman", 64, 4), (f.TestMetric, f.TestImages, f.Epochs));
            Assert.True(f.TestValue > 0.5, $"{f.Model}: fine-tuned test Spearman {f.TestValue}");
            Assert.True(double.IsFinite(f.FrozenBrainCeiled) && Math.Abs(f.BrainCeiled - f.FrozenBrainCeiled) > 1e-6,
                $"{f.Model}: fine-tuning should change the penultimate layer's similarity ({f.FrozenBrainCeiled} -> {f.BrainCeiled})");
        }
        var t = summary.Results;
        Assert.Equal(3 * 4, Enumerable.Range(0, t.RowCount).Count(i => t.Text(i, "metric").StartsWith("finetuned_", StringComparison.Ordinal)));

        // The correlation across fine-tuned models is Spearman of the two columns.
        var c = summary.Correlations.Single(x => x.Scope.StartsWith("fine-tuned", StringComparison.Ordinal));
        Assert.Equal(3, c.N);
        Assert.Equal(LayerLens.Stats.Correlation.Spearman(summary.FineTuned.Select(f => f.BrainCeiled).ToArray(), summary.FineTuned.Select(f => f.TestValue).ToArray()), c.Rho, 12);
        Assert.Contains(summary.Charts, ch => ch.Title.StartsWith("Fine-tuned models", StringComparison.Ordinal));

        // Independent check on the exported fine-tuned model: its test predictions and its penultimate layer's brain score.
        var first = summary.FineTuned[0];
        Assert.NotNull(first.ExportedModel);
        var spec = SweepFixtures.Preprocessing(64);
        using (var graph = ModelLoader.Load(first.ExportedModel!))
        using (var test = new DatasetTrainingData(ImageDataset.Open(Path.Combine(_dir, "test.csv")), "score", spec, false, cacheImages: false))
        using (var scope = NewDisposeScope())
        {
            var (images, targets) = test.Batch(Enumerable.Range(0, test.Count).ToList());
            using var r = graph.Run(DatasetTrainingData.ValueStage(spec)(images));
            var pred = r.Outputs[graph.OutputNames[0]].flatten().to_type(ScalarType.Float64).data<double>().ToArray();
            Assert.Equal(first.TestValue, LayerLens.Stats.Correlation.Spearman(pred, targets.data<double>().ToArray()), 3);

            var store = Path.Combine(_dir, "exported.h5");
            FeatureExtractor.Run(graph, first.ExportedModel!, ImageDataset.Open(Path.Combine(_dir, "images")), store,
                new ExtractionOptions { LayerSelector = "/Flatten_output_0", Reducer = "gap", Seed = 2, Threads = 2, Preprocessing = spec });
            var src = FeatureSource.Open(store, null);
            using var assembly = NeuralAssembly.Read(Path.Combine(_dir, "neural"));
            var score = NeuralPredictivity.Score(src.Read("/Flatten_output_0"), src.Ids, assembly, NeuralRegression.Pls, 4, 0.9, 2);
            Assert.Equal(first.BrainCeiled, score.Ceiled, 5);
        }

        // Run again: every unit, fine-tuning included, comes from the first run.
        var again = SweepRunner.Run(config, Path.Combine(_dir, "out"));
        Assert.Equal((0, 3 + 3), (again.UnitsComputed, again.UnitsResumed));
        Assert.Equal(File.ReadAllText(summary.ResultsCsv), File.ReadAllText(again.ResultsCsv));
    }
}
