using LayerLens.Features;

namespace LayerLens.Tests.Features;

/// <summary>
/// Issue point 6: a real `layerlens extract` process is SIGKILLed at several points and restarted;
/// the finished store must be bit-identical to an uninterrupted run's.
/// </summary>
public sealed class KillSafetyTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ll-kill").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    static string[] ExtractArgs(string images, string output) => new[]
    {
        "extract", ExtractionFixtures.Model, "--images", images,
        "--resize", "64", "--crop", "64", "--reduce", "rp:32", "--seed", "5", "--batch", "2", "--block-rows", "4",
        "--threads", "2", "--out", output,
    };

    static int Shards(string output) =>
        Directory.Exists(FeatureExtractor.PartsDir(output)) ? Directory.GetFiles(FeatureExtractor.PartsDir(output), "block-*.shard").Length : 0;

    [Fact]
    public void Killed_and_restarted_extraction_is_bit_identical_to_an_uninterrupted_run()
    {
        var images = Path.Combine(_dir, "img");
        ExtractionFixtures.MakeImages(images, 32, seed: 3);

        var reference = Path.Combine(_dir, "reference.h5");
        using (var p = TestPaths.StartCli(ExtractArgs(images, reference)))
        {
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)));
            Assert.Equal(0, p.ExitCode);
        }

        var output = Path.Combine(_dir, "killed.h5");
        var parts = FeatureExtractor.PartsDir(output);
        int kills = 0;
        // As soon as the run record exists (before any block), then after 1, 3 and 5 of 8 blocks.
        if (TestPaths.RunCliAndKill(ExtractArgs(images, output), () => File.Exists(Path.Combine(parts, "run.json")))) kills++;
        foreach (var k in new[] { 1, 3, 5 })
        {
            int before = Shards(output);
            if (TestPaths.RunCliAndKill(ExtractArgs(images, output), () => Shards(output) >= Math.Max(k, before + 1))) kills++;
            Assert.False(File.Exists(output), "the store must not exist before every block is done");
            // Every shard present is whole: its size matches its header.
            foreach (var s in Directory.GetFiles(parts, "block-*.shard")) FeatureShard.ReadHeader(s);
        }
        // Once more while the store is being assembled, if the kill lands in time.
        TestPaths.RunCliAndKill(ExtractArgs(images, output), () => Directory.GetFiles(_dir, ".killed.h5.tmp-*").Length > 0);
        if (File.Exists(output)) FeatureStore.Open(output); // a store that exists must be complete and readable
        Assert.True(kills >= 3, $"only {kills} kills landed before the run finished");

        using (var p = TestPaths.StartCli(ExtractArgs(images, output)))
        {
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)));
            Assert.Equal(0, p.ExitCode);
        }
        Assert.False(Directory.Exists(parts));
        Assert.Empty(Directory.GetFiles(_dir, ".*.tmp-*"));

        var a = FeatureStore.Open(reference);
        var b = FeatureStore.Open(output);
        Assert.Equal(a.Ids, b.Ids);
        Assert.Equal(a.Layers.Select(l => (l.Name, l.Dim)), b.Layers.Select(l => (l.Name, l.Dim)));
        foreach (var layer in a.Layers)
        {
            var x = a.Read(layer.Name);
            var y = b.Read(layer.Name);
            Assert.True(x.AsSpan().SequenceEqual(y), $"layer {layer.Name} differs after kill and resume");
        }
    }
}
