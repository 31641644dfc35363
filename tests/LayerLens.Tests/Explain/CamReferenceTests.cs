using System.Text.Json;
using LayerLens.Explain;
using LayerLens.Explain.Cam;
using LayerLens.IO;
using LayerLens.Models;
using static TorchSharp.torch;

namespace LayerLens.Tests.Explain;

/// <summary>Maps of every method against scripts/fixtures/make_cam_fixtures.py (the formulas written in PyTorch).</summary>
public class CamReferenceTests
{
    static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Cam");

    static readonly JsonElement Meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "cases.json"))).RootElement;

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Meta.GetProperty("cases").EnumerateArray()) data.Add(c.GetProperty("name").GetString()!);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Map_matches_the_pytorch_formula(string name)
    {
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        var c = Meta.GetProperty("cases").EnumerateArray().First(e => e.GetProperty("name").GetString() == name);
        using var graph = ModelLoader.Load(Path.Combine(Dir, "cnn.onnx"));
        using var input = Npy.Read(Path.Combine(Dir, "input.npy"));
        using var expected = Npy.Read(Path.Combine(Dir, name + ".npy"));
        var layers = c.GetProperty("layers").EnumerateArray().Select(l => Meta.GetProperty("layers").GetProperty(l.GetInt32().ToString()).GetString()!).ToList();
        var method = CamMethodNames.ParseList(c.GetProperty("method").GetString()!)[0];
        var request = new CamRequest(new[] { method }, layers, CamTarget.Top1,
            c.GetProperty("score").GetString() == "softmax" ? CamScore.Softmax : CamScore.Raw,
            AugSmooth: c.GetProperty("aug_smooth").GetBoolean(), EigenSmooth: c.GetProperty("eigen_smooth").GetBoolean(), MaskBatchSize: 4);
        var result = new CamEngine(graph).Compute(input, request);

        Assert.Equal(16, result.Height);
        Assert.Equal(16, result.Width);
        Assert.Equal(Meta.GetProperty("classes").EnumerateArray().Select(e => e.GetInt32()), result.TargetClass);
        var probs = Meta.GetProperty("probabilities").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < 5; k++) Assert.Equal(probs[b][k], result.Probabilities[b][k], 5);
        var want = expected.reshape(2, -1).data<float>().ToArray();
        var got = result.Maps[method].SelectMany(r => r).ToArray();
        Assert.Equal(want.Length, got.Length);
        double worst = want.Zip(got, (w, g) => Math.Abs(w - g)).Max();
        Assert.True(worst < 1e-4, $"{name}: largest difference from PyTorch {worst:g3}");
        Assert.True(want.Max() > 0.99 && want.Min() < 0.01, "reference map not rescaled to [0, 1]");
    }

    [Fact]
    public void All_methods_in_one_request_give_the_same_maps_as_one_at_a_time()
    {
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        using var graph = ModelLoader.Load(Path.Combine(Dir, "cnn.onnx"));
        using var input = Npy.Read(Path.Combine(Dir, "input.npy"));
        var layer = Meta.GetProperty("layers").GetProperty("2").GetString()!;
        var all = Enum.GetValues<CamMethod>();
        var engine = new CamEngine(graph);
        var together = engine.Compute(input, new CamRequest(all, new[] { layer }, CamTarget.Top1, MaskBatchSize: 5));
        foreach (var m in all)
        {
            using var expected = Npy.Read(Path.Combine(Dir, CamMethodNames.Name(m) + ".npy"));
            var want = expected.reshape(2, -1).data<float>().ToArray();
            var got = together.Maps[m].SelectMany(r => r).ToArray();
            Assert.True(want.Zip(got, (w, g) => Math.Abs(w - g)).Max() < 1e-4, CamMethodNames.Name(m));
        }
    }
}
