using LayerLens.Models;
using LayerLens.Models.Engine;
using InferenceSession = Microsoft.ML.OnnxRuntime.InferenceSession;
using NamedOnnxValue = Microsoft.ML.OnnxRuntime.NamedOnnxValue;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Engine;

/// <summary>
/// Runs without gradients feed convolution stacks channels-last for speed (bench/run.sh measures it);
/// these pin that consumers cannot tell: same values and shapes, and returned tensors stay contiguous.
/// </summary>
public class ChannelsLastLayoutTests
{
    static Tensor Images(int n = 2) => torch.rand(new long[] { n, 3, 64, 64 }, generator: new Generator(11));

    [Fact]
    public void Inference_taps_equal_the_plain_layout_of_a_gradient_run_and_returned_ones_are_contiguous()
    {
        using var graph = ModelLoader.Load(TestPaths.DemoModel);
        using var x = Images();
        var names = graph.Layers.Select(l => l.Name).ToList();
        var streamed = new Dictionary<string, Tensor>();
        using var fast = graph.Run(x, new RunOptions
        {
            Taps = names,
            // Streamed taps may be strided; a copy keeps the values past the call.
            OnTap = (layer, t) => streamed[layer.Name] = t.clone(),
        });
        // A gradient run keeps every tensor in the layout it was given, so it is the plain-layout reference.
        using var plain = graph.Run(x, new RunOptions { Taps = names, Grad = true });
        Assert.Equal(names.Count, streamed.Count);
        foreach (var name in names)
        {
            var a = fast.Taps[name];
            using var b = plain.Taps[name].detach();
            Assert.True(a.is_contiguous(), $"{name} was returned non-contiguous");
            Assert.Equal(b.shape, a.shape);
            Assert.Equal(b.shape, streamed[name].shape);
            Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-5), $"{name} differs between layouts by {(a - b).abs().max().item<float>()}");
            Assert.True(streamed[name].allclose(a, 0, 0), $"{name} streamed differs from returned");
            // Reading values through the accessor follows logical order whatever the strides.
            Assert.Equal(a.data<float>().ToArray(), streamed[name].data<float>().ToArray());
        }
        Assert.True(fast.Outputs["logits"].is_contiguous());
        foreach (var t in streamed.Values) t.Dispose();
    }

    [Fact]
    public void Inference_logits_match_onnx_runtime_on_the_demo_resnet()
    {
        using var graph = ModelLoader.Load(TestPaths.DemoModel);
        using var x = Images();
        using var r = graph.Run(x);
        var ours = r.Outputs["logits"].data<float>().ToArray();

        using var session = new InferenceSession(TestPaths.DemoModel);
        var feed = new DenseTensor(x.data<float>().ToArray(), new[] { 2, 3, 64, 64 });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(graph.Inputs[0].Name, feed) });
        var reference = results.Single(v => v.Name == "logits").AsEnumerable<float>().ToArray();

        Assert.Equal(reference.Length, ours.Length);
        for (int i = 0; i < ours.Length; i++)
            Assert.True(Math.Abs(ours[i] - reference[i]) <= 1e-4 + 1e-4 * Math.Abs(reference[i]), $"logit {i}: {ours[i]} vs onnxruntime {reference[i]}");
    }
}
