using System.Text.Json;
using LayerLens.Explain;
using LayerLens.IO;
using LayerLens.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Explain;

/// <summary>Deletion, insertion and ROAD against scripts/fixtures/make_faithfulness_fixtures.py (NumPy/SciPy).</summary>
public class FaithfulnessTests
{
    static string CamDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Cam");
    static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Faithfulness");
    static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json"))).RootElement;

    static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    static (Tensor Input, float[][] Maps, int[] Classes) Fixture()
    {
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        var x = Npy.Read(Path.Combine(CamDir, "input.npy"));
        using var m = Npy.Read(Path.Combine(CamDir, "gradcam.npy"));
        var flat = m.reshape(2, -1).data<float>().ToArray();
        var maps = new[] { flat[..256], flat[256..] };
        return (x, maps, Expected.GetProperty("classes").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    static void Near(double[] want, double[] got, double tol, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) < tol, $"{what}[{i}]: expected {want[i]:g9}, got {got[i]:g9}");
    }

    [Fact]
    public void Deletion_and_insertion_curves_match_numpy()
    {
        var (x, maps, classes) = Fixture();
        using var _ = x;
        using var graph = ModelLoader.Load(Path.Combine(CamDir, "cnn.onnx"));
        var f = new Faithfulness(graph, new FaithfulnessOptions(Steps: 8, BatchSize: 4));
        var deletion = f.Deletion(x, maps, classes);
        var insertion = f.Insertion(x, maps, classes);
        for (int i = 0; i < 2; i++)
        {
            var d = Expected.GetProperty("deletion")[i];
            Near(Doubles(d.GetProperty("scores")), deletion[i].Scores, 2e-6, $"deletion {i}");
            Assert.Equal(d.GetProperty("auc").GetDouble(), deletion[i].Auc, 6);
            var ins = Expected.GetProperty("insertion")[i];
            Near(Doubles(ins.GetProperty("scores")), insertion[i].Scores, 2e-6, $"insertion {i}");
            Assert.Equal(ins.GetProperty("auc").GetDouble(), insertion[i].Auc, 6);
            Assert.Equal(9, deletion[i].Fractions.Length);
            Assert.Equal(0.5, deletion[i].Fractions[4]);
        }
    }

    [Fact]
    public void Road_with_linear_imputation_matches_scipy()
    {
        var (x, maps, classes) = Fixture();
        using var _ = x;
        using var graph = ModelLoader.Load(Path.Combine(CamDir, "cnn.onnx"));
        var f = new Faithfulness(graph, new FaithfulnessOptions(BatchSize: 3));
        var road = f.Road(x, maps, classes, Doubles(Expected.GetProperty("fractions")), noise: 0);
        for (int i = 0; i < 2; i++)
        {
            var e = Expected.GetProperty("road")[i];
            Assert.Equal(e.GetProperty("original").GetDouble(), road[i].Original, 6);
            Near(Doubles(e.GetProperty("morf")), road[i].MostRelevantFirst, 2e-6, $"MoRF {i}");
            Near(Doubles(e.GetProperty("lerf")), road[i].LeastRelevantFirst, 2e-6, $"LeRF {i}");
        }
    }

    [Fact]
    public void Imputed_image_matches_the_sparse_solve_and_noise_is_seeded()
    {
        var (x, maps, _) = Fixture();
        using var __ = x;
        using var want = Npy.Read(Path.Combine(Dir, "road_morf50_image0.npy"));
        var order = Enumerable.Range(0, 256).OrderByDescending(i => maps[0][i]).ThenBy(i => i).ToArray();
        var keep = Enumerable.Repeat(true, 256).ToArray();
        foreach (var i in order.Take(128)) keep[i] = false;
        using var img = x[0].to_type(ScalarType.Float64);
        using var got = Faithfulness.NoisyLinearImpute(img, keep, noise: 0);
        double worst = want.sub(got).abs().max().item<double>();
        Assert.True(worst < 1e-9, $"largest difference from scipy's solve {worst:g3}");
        // Kept pixels are untouched; the removed ones are not left at their old values.
        var k = tensor(keep).reshape(1, 16, 16);
        Assert.Equal(0.0, got.sub(img).mul(k).abs().max().item<double>());
        Assert.True(got.sub(img).abs().max().item<double>() > 0.1);

        using var a = Faithfulness.NoisyLinearImpute(img, keep, 0.01, new Generator(5));
        using var b = Faithfulness.NoisyLinearImpute(img, keep, 0.01, new Generator(5));
        Assert.Equal(0.0, a.sub(b).abs().max().item<double>());
        using var noise = a.sub(got).masked_select(k.logical_not().expand(3, 16, 16));
        Assert.Equal(384, noise.numel());
        Assert.InRange(noise.std().item<double>(), 0.008, 0.012);
        Assert.Equal(0.0, a.sub(got).mul(k).abs().max().item<double>());
    }

    [Fact]
    public void Blur_is_an_11_tap_gaussian_with_mirrored_borders()
    {
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        // An impulse in the middle gives the normalised kernel exp(-(i² + j²)/50) back; row 10 shown here.
        using var x = zeros(1, 1, 21, 21, dtype: ScalarType.Float64);
        x[0, 0, 10, 10] = tensor(1.0);
        using var y = Faithfulness.Blur(x);
        var k = Enumerable.Range(-5, 11).Select(i => Math.Exp(-i * i / 50.0)).ToArray();
        for (int i = -5; i <= 5; i++) Assert.Equal(k[i + 5] / k.Sum() / k.Sum(), y[0, 0, 10, 10 + i].item<double>(), 12);
        // Mirrored (not zero-padded) borders keep a constant image constant up to its edges.
        using var c = full(1, 1, 8, 8, 0.7, dtype: ScalarType.Float64);
        using var cb = Faithfulness.Blur(c);
        Assert.True(cb.sub(0.7).abs().max().item<double>() < 1e-12);
    }

    [Fact]
    public void Faithfulness_runs_on_an_nhwc_graph()
    {
        // zoo:emotion takes NHWC input; curves are computed in its layout and start at the unmodified score.
        _ = LayerLens.Tests.TfJs.TfJsReference.HumanModelsDir;
        using var graph = ModelLoader.Load("zoo:emotion");
        using var x = rand(1, 64, 64, 1, generator: new Generator(2)).mul(2).sub(1);
        var map = Enumerable.Range(0, 64 * 64).Select(i => (float)((i % 64) / 64.0)).ToArray();
        var f = new Faithfulness(graph, new FaithfulnessOptions(Steps: 4));
        var d = f.Deletion(x, new[] { map }, new[] { 3 });
        using var run = graph.Run(x);
        Assert.Equal(run.Outputs[graph.OutputNames[0]][0, 3].item<float>(), d[0].Scores[0], 5);
        Assert.Equal(5, d[0].Scores.Length);
        var r = f.Road(x, new[] { map }, new[] { 3 }, new[] { 0.5 });
        Assert.Equal(d[0].Scores[0], r[0].Original, 6);
    }
}
