using LayerLens.Models;
using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Engine;

public class ModelGraphTests
{
    static ModelGraph Demo() => ModelLoader.Load(TestPaths.DemoModel);

    static Tensor Images(int n = 2)
    {
        var g = new Generator(7);
        return torch.rand(new long[] { n, 3, 64, 64 }, generator: g);
    }

    [Fact]
    public void Layer_table_has_depths_parameters_and_declared_shapes()
    {
        using var graph = Demo();
        graph.InferShapes(graph.InputShapesFor(64, 64));
        var first = graph.Layers[0];
        Assert.Equal("Conv", first.OpType);
        Assert.Equal(1, first.DepthIndex);
        Assert.Equal(16 * 3 * 3 * 3 + 16, first.ParameterCount); // weights + bias (BN folded by the exporter)
        Assert.Equal(new long[] { 1, 16, 32, 32 }, first.OutputShape);
        var logits = graph.Layer("logits");
        Assert.Equal(1.0, logits.RelativeDepth);
        Assert.Equal(new long[] { 1, 10 }, logits.OutputShape);
        Assert.Equal(32 * 10 + 10, logits.ParameterCount);
        // Depth grows along every edge, and the shortcut conv sits beside (not after) the block's first conv.
        Assert.True(graph.Layers.Zip(graph.Layers.Skip(1)).Count(p => p.Second.DepthIndex < p.First.DepthIndex) >= 1);
        Assert.All(graph.Layers, l => Assert.InRange(l.RelativeDepth, 0, 1));
        Assert.Equal(graph.Layers.Count, graph.Layers.Select(l => l.Name).Distinct().Count());
    }

    [Fact]
    public void Taps_come_from_the_same_pass_and_agree_with_the_ops_between_them()
    {
        using var graph = Demo();
        using var x = Images();
        var conv = graph.Layers[0].Name;
        var relu = graph.Layers[1].Name;
        using var r = graph.Run(x, new RunOptions { Taps = new[] { conv, relu } });
        Assert.Equal("Relu", graph.Layer(relu).OpType);
        using var expected = r.Taps[conv].relu();
        Assert.True(expected.allclose(r.Taps[relu], 0, 0));
        // Tapping does not change the outputs.
        using var plain = graph.Run(x);
        Assert.True(plain.Outputs["logits"].allclose(r.Outputs["logits"], 0, 0));
    }

    [Fact]
    public void Streaming_taps_see_each_layer_once_in_graph_order()
    {
        using var graph = Demo();
        using var x = Images();
        var seen = new List<string>();
        using var r = graph.Run(x, new RunOptions
        {
            Taps = graph.Layers.Select(l => l.Name).ToList(),
            KeepTaps = false,
            OnTap = (layer, t) => { seen.Add(layer.Name); Assert.Equal(2, t.shape[0]); },
        });
        Assert.Equal(graph.Layers.Select(l => l.Name), seen);
        Assert.Empty(r.Taps);
    }

    [Fact]
    public void Gradient_to_a_tapped_activation_equals_the_linear_heads_weights()
    {
        // logits = flatten · Wᵀ + b, so d logits[0, k] / d flatten[0] = W[k].
        using var graph = Demo();
        using var x = Images(1);
        var flatten = graph.Layers.Single(l => l.OpType == "Flatten").Name;
        using var r = graph.Run(x, new RunOptions { Taps = new[] { flatten }, Grad = true });
        var gemm = graph.Nodes.Single(n => n.OpType == "Gemm");
        var w = graph.Constants[gemm.Inputs[1]];
        for (int k = 0; k < 3; k++)
        {
            var grad = torch.autograd.grad(new[] { r.Outputs["logits"][0, k] }, new[] { r.Taps[flatten] }, retain_graph: true)[0];
            Assert.True(grad[0].allclose(w[k], 1e-6, 1e-7), $"class {k}");
        }
    }

    [Fact]
    public void Gradient_reaches_the_input_and_matches_a_finite_difference()
    {
        using var graph = Demo();
        using var x0 = Images(1).to_type(ScalarType.Float32);
        var x = x0.clone().requires_grad_(true);
        using var r = graph.Run(x, new RunOptions { Grad = true });
        var score = r.Outputs["logits"][0, 3];
        var grad = torch.autograd.grad(new[] { score }, new[] { x })[0];
        // Directional derivative along the gradient, by a central difference (float32: loose tolerance).
        var dir = grad / grad.norm();
        double h = 1e-2;
        using var plus = graph.Run(x0 + dir * h);
        using var minus = graph.Run(x0 - dir * h);
        double numeric = (plus.Outputs["logits"][0, 3].ToDouble() - minus.Outputs["logits"][0, 3].ToDouble()) / (2 * h);
        double analytic = (grad * dir).sum().ToDouble();
        Assert.InRange(Math.Abs(numeric - analytic), 0, 1e-3 * Math.Max(1, Math.Abs(analytic)) + 1e-5);
    }

    [Fact]
    public void Wrong_shapes_types_and_non_finite_inputs_are_one_line_errors()
    {
        using var graph = Demo();
        using var wrongRank = torch.zeros(3, 64, 64);
        var e1 = Assert.Throws<LayerLensException>(() => graph.Run(wrongRank));
        Assert.Contains("input 'image' expects shape [?,3,64,64], got [3,64,64]", e1.Message);
        using var wrongChannels = torch.zeros(1, 4, 64, 64);
        Assert.Contains("got [1,4,64,64]", Assert.Throws<LayerLensException>(() => graph.Run(wrongChannels)).Message);
        using var ints = torch.zeros(new long[] { 1, 3, 64, 64 }, dtype: ScalarType.Int64);
        Assert.Contains("expects float32", Assert.Throws<LayerLensException>(() => graph.Run(ints)).Message);
        using var nan = torch.full(new long[] { 1, 3, 64, 64 }, double.NaN);
        Assert.Contains("NaN", Assert.Throws<LayerLensException>(() => graph.Run(nan)).Message);
        Assert.Contains("no layer named 'nope'", Assert.Throws<LayerLensException>(() => graph.Run(torch.zeros(1, 3, 64, 64), new RunOptions { Taps = new[] { "nope" } })).Message);
    }

    [Fact]
    public void Layer_selectors_take_names_globs_ops_and_depths_and_reject_unknown_terms()
    {
        using var graph = Demo();
        Assert.Equal(graph.Layers.Count, LayerSelector.All.Select(graph.Layers).Count);
        Assert.All(LayerSelector.Parse("op:relu").Select(graph.Layers), l => Assert.Equal("Relu", l.OpType));
        Assert.Equal(new[] { "logits" }, LayerSelector.Parse("logits").Select(graph.Layers).Select(l => l.Name));
        Assert.All(LayerSelector.Parse("/layer2/*").Select(graph.Layers), l => Assert.StartsWith("/layer2/", l.Name));
        Assert.All(LayerSelector.Parse("depth:0.5-1").Select(graph.Layers), l => Assert.True(l.RelativeDepth >= 0.5));
        var e = Assert.Throws<LayerLensException>(() => LayerSelector.Parse("op:Conv,/nothing*").Select(graph.Layers));
        Assert.Contains("'/nothing*' matches no layer", e.Message);
    }

    [Fact]
    public void Device_option_parses_cpu_and_cuda_forms()
    {
        Assert.Equal(ComputeDevice.Cpu, ComputeDevice.Parse("cpu"));
        Assert.Equal(new ComputeDevice(DeviceKind.Cuda, 1), ComputeDevice.Parse("cuda:1"));
        Assert.Equal("cuda:0", ComputeDevice.Parse("CUDA").ToString());
        Assert.Equal(ErrorKind.Usage, Assert.Throws<LayerLensException>(() => ComputeDevice.Parse("tpu")).Kind);
    }

    [Fact]
    public void Repeated_runs_in_a_dispose_scope_keep_native_tensor_count_flat()
    {
        using var graph = Demo();
        using var x = Images();
        long Live() => (long)(DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        using (graph.Run(x, new RunOptions { Taps = graph.Layers.Select(l => l.Name).ToList() })) { }
        long before = Live();
        for (int i = 0; i < 5; i++)
            using (graph.Run(x, new RunOptions { Taps = graph.Layers.Select(l => l.Name).ToList() })) { }
        Assert.Equal(before, Live());
    }

    [Fact]
    public void Shape_arithmetic_is_not_a_layer_and_is_folded_per_input_shape()
    {
        // The exporters' flatten idiom: Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])).
        var dir = TestPaths.NewTempDir();
        var path = new OnnxModelBuilder(13).Input("x", -1, 3, 4, 4).Output("y")
            .Int64Initializer("zero", Array.Empty<long>(), new long[] { 0 })
            .Int64Initializer("axes0", new long[] { 1 }, new long[] { 0 })
            .Int64Initializer("minus1", new long[] { 1 }, new long[] { -1 })
            .Node("Relu", new[] { "x" }, new[] { "r" })
            .Node("Shape", new[] { "r" }, new[] { "s" })
            .Node("Gather", new[] { "s", "zero" }, new[] { "n" }, null, OnnxModelBuilder.Int("axis", 0))
            .Node("Unsqueeze", new[] { "n", "axes0" }, new[] { "n1" })
            .Node("Concat", new[] { "n1", "minus1" }, new[] { "target" }, null, OnnxModelBuilder.Int("axis", 0))
            .Node("Reshape", new[] { "r", "target" }, new[] { "y" })
            .Save(Path.Combine(dir, "flatten.onnx"));
        using var graph = ModelLoader.Load(path);
        Assert.Equal(new[] { "r", "y" }, graph.Layers.Select(l => l.Name));
        Assert.Equal(4, graph.ShapeNodeCount);
        foreach (var (batch, sets) in new[] { (2L, 1), (2L, 1), (5L, 2) })
        {
            using var x = torch.randn(batch, 3, 4, 4);
            using var r = graph.Run(x);
            Assert.Equal(new[] { batch, 48L }, r.Outputs["y"].shape);
            Assert.True(r.Outputs["y"].allclose(x.relu().reshape(batch, 48), 0, 0));
            Assert.Equal(sets, graph.FoldedShapeSets);
        }
    }
}
