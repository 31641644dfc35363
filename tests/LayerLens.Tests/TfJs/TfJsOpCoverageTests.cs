using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.TfJs;

/// <summary>
/// Ops the issue lists that none of the ten human-models graphs uses (MirrorPad, SAME AvgPool, ResizeNearestNeighbor,
/// Split, Prelu, Tanh, align-corners ResizeBilinear, negative-stride StridedSlice, MatMul), chained in one small
/// hand-written graph and checked node by node against TensorFlow.js.
/// </summary>
public class TfJsOpCoverageTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "layerlens-tfjs-ops-" + Guid.NewGuid().ToString("N"));

    public TfJsOpCoverageTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    static string S(string text) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Ops_outside_the_ten_models_match_TensorFlowJs()
    {
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        var weights = new List<(string Name, long[] Shape, string DType, byte[] Bytes)>();
        void Int(string name, long[] shape, params int[] v) => weights.Add((name, shape, "int32", v.SelectMany(BitConverter.GetBytes).ToArray()));
        void Flt(string name, long[] shape, params float[] v) => weights.Add((name, shape, "float32", v.SelectMany(BitConverter.GetBytes).ToArray()));
        Int("pads", new long[] { 4, 2 }, 0, 0, 1, 1, 1, 1, 0, 0);
        Int("size5", new long[] { 2 }, 5, 5);
        Int("split_axis", Array.Empty<long>(), 3);
        Flt("alpha", new long[] { 1 }, 0.2f);
        Int("concat_axis", Array.Empty<long>(), 3);
        Int("size7", new long[] { 2 }, 7, 7);
        Int("ss_begin", new long[] { 4 }, 0, 6, 0, 0);
        Int("ss_end", new long[] { 4 }, 1, 0, 7, 2);
        Int("ss_strides", new long[] { 4 }, 1, -2, 1, 1);
        Int("flat", new long[] { 2 }, 1, -1);
        Flt("w", new long[] { 42, 3 }, Enumerable.Range(0, 126).Select(i => (float)Math.Sin(i)).ToArray());
        var consts = string.Join(",\n", weights.Select(w => $$"""{"name": "{{w.Name}}", "op": "Const"}"""));
        var nodes = """
            {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": "1"}, {"size": "4"}, {"size": "4"}, {"size": "2"}]}}}},
            __CONSTS__,
            {"name": "mirror", "op": "MirrorPad", "input": ["x", "pads"], "attr": {"mode": {"s": "__REFLECT__"}}},
            {"name": "avg", "op": "AvgPool", "input": ["mirror"], "attr": {"ksize": {"list": {"i": ["1", "3", "3", "1"]}}, "strides": {"list": {"i": ["1", "2", "2", "1"]}}, "padding": {"s": "__SAME__"}, "data_format": {"s": "__NHWC__"}}},
            {"name": "nearest", "op": "ResizeNearestNeighbor", "input": ["avg", "size5"], "attr": {"align_corners": {"b": false}, "half_pixel_centers": {"b": true}}},
            {"name": "split", "op": "Split", "input": ["split_axis", "nearest"], "attr": {"num_split": {"i": "2"}}},
            {"name": "prelu", "op": "Prelu", "input": ["split", "alpha"]},
            {"name": "tanh", "op": "Tanh", "input": ["split:1"]},
            {"name": "concat", "op": "ConcatV2", "input": ["prelu", "tanh", "concat_axis"], "attr": {"N": {"i": "2"}}},
            {"name": "bilinear", "op": "ResizeBilinear", "input": ["concat", "size7"], "attr": {"align_corners": {"b": true}, "half_pixel_centers": {"b": false}}},
            {"name": "slice", "op": "StridedSlice", "input": ["bilinear", "ss_begin", "ss_end", "ss_strides"], "attr": {"begin_mask": {"i": "9"}, "end_mask": {"i": "9"}, "ellipsis_mask": {"i": "0"}, "new_axis_mask": {"i": "0"}, "shrink_axis_mask": {"i": "0"}}},
            {"name": "reshape", "op": "Reshape", "input": ["slice", "flat"]},
            {"name": "matmul", "op": "MatMul", "input": ["reshape", "w"], "attr": {"transpose_a": {"b": false}, "transpose_b": {"b": false}}},
            {"name": "softmax", "op": "Softmax", "input": ["matmul"]}
            """.Replace("__CONSTS__", consts).Replace("__REFLECT__", S("REFLECT")).Replace("__SAME__", S("SAME")).Replace("__NHWC__", S("NHWC"));
        var manifest = string.Join(",", weights.Select(w => $$"""{"name": "{{w.Name}}", "shape": [{{string.Join(",", w.Shape)}}], "dtype": "{{w.DType}}"}"""));
        File.WriteAllBytes(Path.Combine(_dir, "ops.bin"), weights.SelectMany(w => w.Bytes).ToArray());
        var json = Path.Combine(_dir, "model.json");
        File.WriteAllText(json, "{\"format\": \"graph-model\", \"modelTopology\": {\"node\": [" + nodes + "], \"versions\": {\"producer\": 1}}, \"weightsManifest\": [{\"paths\": [\"ops.bin\"], \"weights\": [" + manifest + "]}]}");

        using var graph = ModelLoader.Load(json);
        using var x = torch.randn(new long[] { 1, 4, 4, 2 }, generator: new Generator(11));
        var refDir = TfJsReference.Run(json, new Dictionary<string, Tensor> { ["x"] = x });
        var (values, _) = TfJsReference.Manifest(refDir);
        Assert.Equal(new long[] { 1, 3 }, values.Single(v => v.Name == "softmax").Shape);
        var failures = new List<string>();
        int compared = 0;
        using (var r = graph.Run(x, new RunOptions
        {
            Taps = graph.Layers.Select(l => l.Name).ToList(),
            KeepTaps = false,
            OnTap = (layer, t) =>
            {
                var v = values.SingleOrDefault(v => v.Name == layer.Name);
                if (v == null) return;
                compared++;
                using var expected = Npy.Read(v.File);
                if (TfJsReferenceTests.Difference(v.Name, expected, t).Message is { } m) failures.Add(m);
            },
        })) { }
        Assert.Equal(values.Count, compared);
        Assert.Empty(failures);
    }
}
