using LayerLens.Cli;
using LayerLens.Sweep;
using static TorchSharp.torch;

namespace LayerLens.Tests.Sweep;

/// <summary>A cancelled sweep resumes where it stopped and ends with the same table as an uninterrupted run.</summary>
public sealed class SweepResumeTests : IDisposable
{
    readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Two models (tiny-resnet at two input sizes), a score target and a neural target, on 40 images.</summary>
    internal static string SmallSweep(string dir, string extra = "")
    {
        const int N = 40;
        var ids = SweepFixtures.MakeImages(Path.Combine(dir, "images"), N, seed: 4);
        var rng = new Random(8);
        SweepFixtures.WriteScores(Path.Combine(dir, "scores.csv"), ids, ids.Select(_ => rng.NextDouble()).ToArray());
        using (var scope = NewDisposeScope())
        {
            var g = new Generator(3);
            SweepFixtures.WriteNeural(Path.Combine(dir, "neural"), ids, randn(new long[] { N, 12 }, dtype: ScalarType.Float64, generator: g) * 2, reps: 4, noise: 1.0, seed: 9);
        }
        var path = Path.Combine(dir, "sweep.yaml");
        File.WriteAllText(path, $"""
            seed: 1
            threads: 2
            images: images
            models:
              - name: tiny-a
                model: {SweepFixtures.Model}
                layers: op:Conv
                preprocessing: {"{"}preset: imagenet, resize: 64, crop: 64{"}"}
              - name: tiny-b
                model: {SweepFixtures.Model}
                layers: op:Conv
                reducer: gmp
                preprocessing: {"{"}preset: imagenet, resize: 48, crop: 48{"}"}
                batch: 8
            targets:
              - name: memorability
                scores: scores.csv
                cv: kfold:4
              - name: IT
                neural: neural
                metric: pls
                splits: 4
            {extra}
            """);
        return path;
    }

    [Fact]
    public void Cancelled_twice_and_resumed_gives_the_same_table_as_an_uninterrupted_run()
    {
        var config = SweepConfig.Load(SmallSweep(_dir));
        var reference = SweepRunner.Run(config, Path.Combine(_dir, "reference"));
        Assert.Equal(4, reference.UnitsComputed);
        Assert.Equal(0, reference.UnitsResumed);

        var outDir = Path.Combine(_dir, "resumed");
        // Cancelled after the first model × target unit is written...
        using (var cts = new CancellationTokenSource())
        {
            var progress = new SyncProgress<WorkProgress>(p => { if (p.Stage == "readouts" && p.Done == 1) cts.Cancel(); });
            Assert.ThrowsAny<OperationCanceledException>(() => SweepRunner.Run(config, outDir, progress, cts.Token));
        }
        var units = Path.Combine(outDir, SweepRunner.StateDir, "units");
        Assert.Single(Directory.GetFiles(units, "*.json"));
        // ...then while the second model's features are being extracted.
        using (var cts = new CancellationTokenSource())
        {
            var progress = new SyncProgress<WorkProgress>(p => { if (p.Stage == "extract" && p.Detail == "tiny-b" && p.Done > 0) cts.Cancel(); });
            Assert.ThrowsAny<OperationCanceledException>(() => SweepRunner.Run(config, outDir, progress, cts.Token));
        }
        Assert.Equal(2, Directory.GetFiles(units, "*.json").Length);
        Assert.False(File.Exists(Path.Combine(outDir, "results.csv")));

        // Without --resume the CLI refuses to touch the interrupted sweep; with it, the sweep finishes.
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(1, CliApp.Run(new[] { "sweep", config.Source, "--out", outDir }, stdout, stderr));
        Assert.Contains("--resume", stderr.ToString());
        stderr = new StringWriter();
        Assert.Equal(0, CliApp.Run(new[] { "sweep", config.Source, "--out", outDir, "--resume" }, stdout, stderr));
        Assert.Contains("2 units resumed", stdout.ToString());

        Assert.Equal(File.ReadAllText(reference.ResultsCsv), File.ReadAllText(Path.Combine(outDir, "results.csv")));
        Assert.Equal(File.ReadAllText(Path.Combine(reference.OutputDir, "best_layers.csv")), File.ReadAllText(Path.Combine(outDir, "best_layers.csv")));
        Assert.Equal(File.ReadAllText(Path.Combine(reference.OutputDir, "correlations.csv")), File.ReadAllText(Path.Combine(outDir, "correlations.csv")));
        // 2 models × 7 layers (6 convs and the penultimate layer) × (4 readout + 3 neural metrics).
        Assert.Equal(2 * 7 * 7, reference.Results.RowCount);

        // The report loads in a browser without errors, every plot decodes, no section is empty.
        var page = Reports.HeadlessChromium.Check(reference.ReportPath);
        Assert.Empty(page.ConsoleErrors);
        Assert.Empty(page.BrokenImages);
        Assert.Empty(page.EmptySections);
        Assert.Equal(reference.Charts.Count, page.Images);
        Assert.Equal(3, reference.Charts.Count);
        Assert.Equal(5, page.Sections);

        // A changed target invalidates only its own units.
        File.AppendAllText(Path.Combine(_dir, "scores.csv"), "");
        var rows = File.ReadAllLines(Path.Combine(_dir, "scores.csv"));
        rows[1] = rows[1].Split(',')[0] + ",0.123";
        File.WriteAllLines(Path.Combine(_dir, "scores.csv"), rows);
        var again = SweepRunner.Run(config, outDir);
        Assert.Equal(2, again.UnitsResumed);
        Assert.Equal(2, again.UnitsComputed);
    }
}
