using LayerLens.Models;
using LayerLens.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.TfJs;

/// <summary>Small hand-written model.json files whose results are worked out by hand.</summary>
public class TfJsImporterTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "layerlens-tfjs-" + Guid.NewGuid().ToString("N"));

    public TfJsImporterTests()
    {
        Directory.CreateDirectory(_dir);
        LayerLens.Native.TorchRuntime.EnsureLoaded();
    }

    public void Dispose() => Directory.Delete(_dir, true);

    const string Input = """{"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": "1"}, {"size": "2"}]}}}}""";

    string Write(string nodes, string weights, byte[] bin)
    {
        File.WriteAllBytes(Path.Combine(_dir, "w.bin"), bin);
        var json = $$"""
            {"format": "graph-model", "modelTopology": {"node": [{{Input}}, {{nodes}}]},
             "weightsManifest": [{"paths": ["w.bin"], "weights": [{{weights}}]}]}
            """;
        var path = Path.Combine(_dir, "model.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Uint8_and_float16_weights_dequantise_as_TensorFlowJs_declares()
    {
        // w: uint8 [0, 4] with scale 0.5 and min -1 -> [-1, 1]; b: float16 [1.5, -2] (0x3E00, 0xC000).
        var path = Write(
            """
            {"name": "w", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}},
            {"name": "b", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}},
            {"name": "mul", "op": "Mul", "input": ["x", "w"], "attr": {"T": {"type": "DT_FLOAT"}}},
            {"name": "out", "op": "AddV2", "input": ["mul", "b:0"], "attr": {"T": {"type": "DT_FLOAT"}}}
            """,
            """
            {"name": "w", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
            {"name": "b", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}
            """,
            new byte[] { 0, 4, 0x00, 0x3E, 0x00, 0xC0 });
        using var graph = ModelLoader.Load(path);
        Assert.Equal("tfjs", graph.Format);
        using var x = torch.tensor(new float[] { 3, 5 }, new long[] { 1, 2 });
        using var r = graph.Run(x);
        // (3·-1 + 1.5, 5·1 - 2)
        Assert.Equal(new[] { -1.5f, 3f }, r.Outputs["out"].data<float>().ToArray());
    }

    [Fact]
    public void Unsupported_op_fails_at_load_time_naming_op_and_node()
    {
        var path = Write("""{"name": "strange/node", "op": "FancyOp", "input": ["x"]}""", """{"name": "unused", "shape": [1], "dtype": "float32"}""", new byte[4]);
        var e = Assert.Throws<LayerLensException>(() => ModelLoader.Load(path));
        Assert.Contains("FancyOp", e.Message);
        Assert.Contains("strange/node", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Truncated_weight_shard_is_reported_with_the_weight_name()
    {
        var path = Write("""{"name": "w", "op": "Const"}, {"name": "out", "op": "Mul", "input": ["x", "w"]}""",
                         """{"name": "w", "shape": [2], "dtype": "float32"}""", new byte[5]);
        var e = Assert.Throws<LayerLensException>(() => ModelLoader.Load(path));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Same_padding_conv_keeps_NHWC_and_matches_a_hand_computed_sum()
    {
        // 3x3 all-ones filter, SAME padding, on a 1x3x3x1 input 1..9: the centre sums all (45), a corner its 2x2 block.
        var filter = Enumerable.Repeat(1f, 9).SelectMany(BitConverter.GetBytes).ToArray();
        var path = Write(
            """
            {"name": "f", "op": "Const"},
            {"name": "conv", "op": "Conv2D", "input": ["img", "f"], "attr": {"strides": {"list": {"i": ["1", "1", "1", "1"]}}, "padding": {"s": "U0FNRQ=="}, "data_format": {"s": "TkhXQw=="}, "dilations": {"list": {"i": ["1", "1", "1", "1"]}}}}
            """,
            """{"name": "f", "shape": [3, 3, 1, 1], "dtype": "float32"}""", filter);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"x\"", "\"img\"").Replace("{\"size\": \"1\"}, {\"size\": \"2\"}", "{\"size\": \"1\"}, {\"size\": \"3\"}, {\"size\": \"3\"}, {\"size\": \"1\"}"));
        using var graph = ModelLoader.Load(path);
        Assert.Equal("NHWC", graph.Metadata["layout"]);
        using var x = torch.arange(1, 10, dtype: ScalarType.Float32).reshape(1, 3, 3, 1);
        using var r = graph.Run(x);
        var y = r.Outputs["conv"];
        Assert.Equal(new long[] { 1, 3, 3, 1 }, y.shape);
        Assert.Equal(new[] { 12f, 21f, 16f, 27f, 45f, 33f, 24f, 39f, 28f }, y.data<float>().ToArray());
    }

    [Fact]
    public void Human_models_report_their_declared_NHWC_shapes()
    {
        _ = TfJsReference.HumanModelsDir;
        using var graph = ModelLoader.Load("zoo:emotion");
        Assert.Equal("NHWC", graph.Metadata["layout"]);
        graph.InferShapes(graph.InputShapesFor(64, 64));
        Assert.Equal(new long[] { 1, 7 }, graph.Layers[^1].OutputShape);
        var firstConv = graph.Layers.First(l => l.OpType == "_FusedConv2D");
        Assert.Equal(4, firstConv.OutputShape!.Length);
        Assert.Equal(32, firstConv.OutputShape[3]); // the first filter is [3, 3, 1, 32]: 32 channels, last in NHWC
    }
}
