using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Models.Engine;
using LayerLens.Native;
using LayerLens.Quality.Distances;
using static TorchSharp.torch;

namespace LayerLens.Tests.Quality;

public class DeepDistanceTests
{
    static (Tensor X, Tensor Y) ReadoutFeatures()
    {
        TorchRuntime.EnsureLoaded();
        using var both = Npy.Read(Path.Combine(QualityFixtures.Dir, "readout_features.npy"));
        return (both[0].clone(), both[1].clone());
    }

    static double[] Expected(string name)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(QualityFixtures.Dir, "expected.json")));
        return doc.RootElement.GetProperty("readouts").GetProperty(name).EnumerateArray().Select(e => e.GetDouble()).ToArray();
    }

    static double[] Distance(FeatureReadout readout, Tensor x, Tensor y, double[]? weights = null)
    {
        using var scope = NewDisposeScope();
        var terms = readout.Contributions(x, y);
        var w = weights != null ? tensor(weights) : full(terms.shape[1], readout.DefaultWeight(terms.shape[1]), dtype: ScalarType.Float64);
        return readout.Finish(terms.matmul(readout.Normalise(w))).data<double>().ToArray();
    }

    [Theory]
    [InlineData("l2")]
    [InlineData("lpips")]
    [InlineData("stats")]
    [InlineData("gram")]
    [InlineData("dists")]
    public void Readouts_match_numpy_implementation_of_lpips_and_dists_formulas(string name)
    {
        var (x, y) = ReadoutFeatures();
        using (x) using (y)
        {
            var got = Distance(FeatureReadout.Parse(name), x, y);
            var want = Expected(name);
            Assert.Equal(want.Length, got.Length);
            for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 10);
        }
    }

    [Fact]
    public void Lpips_channel_weights_scale_each_channels_normalised_difference()
    {
        var (x, y) = ReadoutFeatures();
        using (x) using (y)
        {
            var got = Distance(new LpipsReadout(), x, y, Expected("weights"));
            var want = Expected("lpips_weighted");
            for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 10);
        }
    }

    static ModelGraph TinyResNet() => ModelLoader.Load(Path.Combine(AppContext.BaseDirectory, "Assets", "tiny-resnet.onnx"));

    static Tensor Images(int n, int seed)
    {
        var g = new Generator((ulong)seed);
        return rand(new long[] { n, 3, 64, 64 }, generator: g);
    }

    [Fact]
    public void Deep_distance_taps_all_layers_in_one_pass_and_combined_l2_is_distance_of_the_concatenation()
    {
        using var graph = TinyResNet();
        var layers = graph.Layers.Where(l => l.OpType == "Relu").Take(3).Select(l => l.Name).ToArray();
        Assert.Equal(3, layers.Length);
        var dd = new DeepDistance(graph, layers, new L2Readout());
        using var refImg = Images(1, 1);
        using var noise = Images(2, 2);
        using var dist = refImg + (noise - 0.5) * 0.2;
        using var reference = dd.Features(refImg);
        var result = dd.Compare(reference, dist);

        using var direct = graph.Run(dist, new RunOptions { Taps = layers });
        for (int n = 0; n < 2; n++)
        {
            var flatRef = layers.Select(l => reference.ByLayer[l][0].flatten()).ToArray();
            var flatDist = layers.Select(l => direct.Taps[l][n].flatten()).ToArray();
            for (int i = 0; i < layers.Length; i++)
            {
                using var d = (flatRef[i] - flatDist[i]).to_type(ScalarType.Float64).norm();
                Assert.Equal(d.item<double>(), result.PerLayer[i][n], 6);
            }
            using var concatRef = cat(flatRef);
            using var concatDist = cat(flatDist);
            using var dc = (concatRef - concatDist).to_type(ScalarType.Float64).norm();
            Assert.Equal(dc.item<double>(), result.Combined[n], 6);
            Assert.True(result.Combined[n] > 0);
        }
    }

    [Theory]
    [InlineData("l2")]
    [InlineData("lpips")]
    [InlineData("stats")]
    [InlineData("gram")]
    [InlineData("dists")]
    public void Identical_images_are_at_distance_zero_and_noise_moves_them_apart(string readout)
    {
        using var graph = TinyResNet();
        var layers = graph.Layers.Where(l => l.OpType == "Relu").Take(2).Select(l => l.Name).ToArray();
        var dd = new DeepDistance(graph, layers, FeatureReadout.Parse(readout));
        using var img = Images(1, 3);
        using var noisy = (img + (Images(1, 4) - 0.5)).clamp(0, 1);
        using var reference = dd.Features(img);
        var same = dd.Compare(reference, img);
        var apart = dd.Compare(reference, noisy);
        Assert.InRange(same.Combined[0], -1e-6, 1e-6);
        Assert.True(apart.Combined[0] > 1e-4, $"{readout}: {apart.Combined[0]}");
        Assert.All(apart.PerLayer, v => Assert.False(double.IsNaN(v[0])));
    }

    [Fact]
    public void Deep_distance_rejects_unknown_layers_readouts_and_negative_weights()
    {
        using var graph = TinyResNet();
        Assert.Contains("no layer named", Assert.Throws<LayerLensException>(() => new DeepDistance(graph, new[] { "nope" }, new L2Readout())).Message);
        Assert.Contains("unknown readout", Assert.Throws<LayerLensException>(() => FeatureReadout.Parse("ssd")).Message);
        var layer = graph.Layers.First(l => l.OpType == "Relu").Name;
        var bad = new Dictionary<string, double[]> { [layer] = new[] { -1.0 } };
        Assert.Contains("non-negative", Assert.Throws<LayerLensException>(() => new DeepDistance(graph, new[] { layer }, new LpipsReadout(), bad)).Message);
    }

    [Fact]
    public void Split_by_reference_never_puts_one_reference_on_both_sides_and_is_seeded()
    {
        var refs = Enumerable.Range(0, 100).Select(i => $"r{i % 10}").ToArray();
        var (train, test) = ReferenceSplit.Split(refs, 0.3, 7);
        Assert.Equal(100, train.Length + test.Length);
        Assert.Empty(train.Select(i => refs[i]).Intersect(test.Select(i => refs[i])));
        Assert.Equal(3, test.Select(i => refs[i]).Distinct().Count());
        Assert.Equal(test, ReferenceSplit.Split(refs, 0.3, 7).Test);
        Assert.NotEqual(test, ReferenceSplit.Split(refs, 0.3, 8).Test);
    }

    [Fact]
    public void Learned_channel_weights_are_non_negative_and_improve_held_out_correlation()
    {
        // 12 channels of terms; human scores follow channels 0-2 only. Uniform weights dilute them with noise.
        TorchRuntime.EnsureLoaded();
        var g = new Generator(11);
        using var terms = rand(new long[] { 400, 12 }, dtype: ScalarType.Float64, generator: g) * 10;
        using var signal = terms[TensorIndex.Colon, TensorIndex.Slice(0, 3)].sum(1);
        var scores = signal.data<double>().Select(v => 100 - v).ToArray(); // MOS: higher = better
        var refs = Enumerable.Range(0, 400).Select(i => $"ref{i % 20}").ToArray();
        var (train, test) = ReferenceSplit.Split(refs, 0.25, 1);
        using var trainTerms = terms.index(tensor(train.Select(i => (long)i).ToArray()));
        using var testTerms = terms.index(tensor(test.Select(i => (long)i).ToArray()));
        var readout = new LpipsReadout();
        var w = ChannelRelevance.FitCorrelation(readout, trainTerms, train.Select(i => scores[i]).ToArray());
        Assert.All(w, v => Assert.True(v >= 0));
        var testScores = test.Select(i => scores[i]).ToArray();
        double Corr(double[] weights)
        {
            using var d = testTerms.matmul(tensor(weights));
            return -Pearson(d.data<double>().ToArray(), testScores);
        }
        var uniform = Corr(Enumerable.Repeat(1.0, 12).ToArray());
        var learned = Corr(w);
        Assert.True(learned > uniform + 0.2, $"uniform {uniform}, learned {learned}");
        Assert.True(w.Take(3).Min() > w.Skip(3).Max());
    }

    [Fact]
    public void Two_afc_fit_learns_the_channels_that_decide_human_choices()
    {
        TorchRuntime.EnsureLoaded();
        var g = new Generator(5);
        using var t0 = rand(new long[] { 300, 6 }, dtype: ScalarType.Float64, generator: g);
        using var t1 = rand(new long[] { 300, 6 }, dtype: ScalarType.Float64, generator: g);
        // Humans prefer p1 when channel 0 says it is closer; other channels are irrelevant.
        using var gap = t0[TensorIndex.Colon, 0] - t1[TensorIndex.Colon, 0];
        var judge = gap.data<double>().Select(v => 1 / (1 + Math.Exp(-8 * v))).ToArray();
        var w = ChannelRelevance.FitTwoAfc(new LpipsReadout(), t0, t1, judge);
        Assert.All(w, v => Assert.True(v >= 0));
        Assert.True(w[0] > 3 * w.Skip(1).Max(), string.Join(", ", w));
    }

    static double Pearson(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb); }
        return sab / Math.Sqrt(saa * sbb);
    }
}
