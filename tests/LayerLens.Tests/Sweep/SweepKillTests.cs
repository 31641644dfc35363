using LayerLens.Features;
using LayerLens.Sweep;

namespace LayerLens.Tests.Sweep;

/// <summary>A real `layerlens sweep` process is SIGKILLed twice and restarted with --resume; the table equals an uninterrupted run's.</summary>
public sealed class SweepKillTests : IDisposable
{
    readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, true);

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
        Assert.True(TestPaths.RunCliAndKill(new[] { "sweep", yaml, "--out", outDir }, () => Units() >= 1), "the first run finished before the kill");
        Assert.True(TestPaths.RunCliAndKill(new[] { "sweep", yaml, "--out", outDir, "--resume" }, () => Directory.Exists(FeatureExtractor.PartsDir(secondStore)) || File.Exists(secondStore)),
            "the second run finished before the kill");
        Assert.False(File.Exists(Path.Combine(outDir, "results.csv")));

        using (var p = TestPaths.StartCli("sweep", yaml, "--out", outDir, "--resume"))
        {
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)));
            Assert.Equal(0, p.ExitCode);
        }
        Assert.Equal(File.ReadAllText(reference.ResultsCsv), File.ReadAllText(Path.Combine(outDir, "results.csv")));
        Assert.Equal(4, Units());
        Assert.Empty(Directory.GetFiles(units, "*.tmp")); // a unit killed mid-write leaves a temporary file, removed on resume
    }
}
