using System.Globalization;
using LayerLens.Brain;
using LayerLens.Datasets;
using LayerLens.Demo;
using LayerLens.Stats;
using TorchSharp;
using Xunit;

namespace LayerLens.Tests.Demo;

public sealed class SyntheticStudyTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "ll-synth-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    [Fact]
    public void Generated_scores_follow_the_visible_content_and_are_labelled_synthetic()
    {
        var set = SyntheticStudy.GenerateImages(_dir, 200, 48, seed: 3);
        var data = ImageDataset.FromManifest(set.Manifest);
        Assert.Equal(200, data.Count);
        Assert.Equal("img_0000", data.Items[0].Id);
        var score = data.Numbers("score");
        var shapes = data.Numbers("shapes");
        Assert.All(score, s => Assert.InRange(s, 0.45, 0.95));
        // The score is built to rise with the number of shapes: a clear but imperfect relation.
        double rho = Correlation.Spearman(score, shapes);
        Assert.InRange(rho, 0.3, 0.95);
        Assert.Contains("SYNTHETIC", File.ReadAllText(Path.Combine(_dir, "GENERATED.txt")));
        // Same seed, same bytes.
        var again = SyntheticStudy.GenerateImages(Path.Combine(_dir, "again"), 200, 48, seed: 3);
        Assert.Equal(File.ReadAllText(set.Manifest), File.ReadAllText(again.Manifest));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "images", "img_0007.png")),
                     File.ReadAllBytes(Path.Combine(_dir, "again", "images", "img_0007.png")));
    }

    [Fact]
    public void Generated_neural_data_is_a_readable_assembly_whose_repetitions_agree()
    {
        int n = 120;
        var ids = Enumerable.Range(0, n).Select(i => $"img_{i:D4}").ToList();
        var objects = Enumerable.Range(0, n).Select(i => (i % 3).ToString(CultureInfo.InvariantCulture)).ToList();
        using var features = torch.randn(new long[] { n, 20 }, generator: new torch.Generator(5));
        var folder = Path.Combine(_dir, "neural");
        var written = SyntheticStudy.WriteNeural(folder, ids, objects, features, "test", "layerX", neuroids: 16, repetitions: 4, noise: 0.5, seed: 2);
        Assert.Equal("IT", written.Region);
        using var assembly = NeuralAssembly.ReadFolder(folder);
        Assert.Equal(new long[] { n * 4, 16 }, assembly.Responses.shape);
        Assert.Equal(ids[5], assembly.StimulusId[5]);
        Assert.All(assembly.Region, r => Assert.Equal("IT", r));
        // Signal variance 1, noise sd 0.5 per repetition: two-repetition halves correlate at about 1/(1 + 0.25/2) ≈ 0.89.
        var r = assembly.Responses;
        var half1 = (r[torch.TensorIndex.Slice(0, n)] + r[torch.TensorIndex.Slice(n, 2 * n)]) / 2;
        var half2 = (r[torch.TensorIndex.Slice(2 * n, 3 * n)] + r[torch.TensorIndex.Slice(3 * n, 4 * n)]) / 2;
        var corr = new List<double>();
        for (int k = 0; k < 16; k++)
            corr.Add(Correlation.Pearson(
                half1[torch.TensorIndex.Colon, k].to(torch.float64).data<double>().ToArray(),
                half2[torch.TensorIndex.Colon, k].to(torch.float64).data<double>().ToArray()));
        Assert.InRange(corr.Average(), 0.8, 0.97);
        Assert.Contains("layerX", File.ReadAllText(Path.Combine(folder, "GENERATED.txt")));
    }
}
