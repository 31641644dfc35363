using System.Diagnostics;
using LayerLens.Sweep;

namespace LayerLens.Tests.Sweep;

/// <summary>A real `layerlens sweep` process is SIGKILLed twice and restarted with --resume; the table equals an uninterrupted run's.</summary>
public sealed class SweepKillTests : IDisposable
{
    readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    static Process Start(params string[] args) => TestPaths.StartCli(args);

    static bool RunAndKill(Func<bool> ready, params string[] args) => TestPaths.RunCliAndKill(args, ready);

    [Fact]
    public void Killed_sweep_process_resumes_to_the_same_table()
    {
        var yaml = SweepResumeTests.SmallSweep(_dir);
        var reference = SweepRunner.Run(SweepConfig.Load(yaml), Path.Combine(_dir, "reference"));

        var outDir = Path.Combine(_dir, "killed");
        var units = Path.Combine(outDir, SweepRunner.StateDir, "units");
        int Units() => Directory.Exists(units) ? Directory.GetFiles(units, "*.json").Length : 0;
        var secondStore = Path.Combine(outDir, SweepRunner.StateDir, "features", "tiny-b.h5");
        // Killed once the first unit is written, then while the second model's features are under way.
        Assert.True(RunAndKill(() => Units() >= 1, "sweep", yaml, "--out", outDir), "the first run finished before the kill");
        Assert.True(RunAndKill(() => Directory.Exists(FeatureExtractorParts(secondStore)) || File.Exists(secondStore), "sweep", yaml, "--out", outDir, "--resume"),
            "the second run finished before the kill");
        Assert.False(File.Exists(Path.Combine(outDir, "results.csv")));

        using (var p = Start("sweep", yaml, "--out", outDir, "--resume"))
        {
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)));
            Assert.Equal(0, p.ExitCode);
        }
        Assert.Equal(File.ReadAllText(reference.ResultsCsv), File.ReadAllText(Path.Combine(outDir, "results.csv")));
        Assert.Equal(4, Units());
        Assert.Empty(Directory.GetFiles(units, "*.tmp")); // a unit killed mid-write leaves a temporary file, removed on resume
    }

    static string FeatureExtractorParts(string store) => LayerLens.Features.FeatureExtractor.PartsDir(store);
}
