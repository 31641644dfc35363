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
/// these pin that consumers cannot tell: same values, same shapes, contiguous tensors.
/// </summary>
public class ChannelsLastLayoutTests
{
    static Tensor Images(int n = 2) => torch.rand(new long[] { n, 3, 64, 64 }, generator: new Generator(11));

    [Fact]
    public void Inference_taps_are_contiguous_and_equal_to_the_plain_layout_of_a_gradient_run()
    {
        using var graph = ModelLoader.Load(TestPaths.DemoModel);
        using var x = Images();
        var names = graph.Layers.Select(l => l.Name).ToList();
        var streamed = new Dictionary<string, bool>();
        using var fast = graph.Run(x, new RunOptions
        {
            Taps = names,
            OnTap = (layer, t) => streamed[layer.Name] = t.is_contiguous(),
        });
        // A gradient run keeps every tensor in the layout it was given, so it is the plain-layout reference.
        using var plain = graph.Run(x, new RunOptions { Taps = names, Grad = true });
        Assert.Equal(names.Count, streamed.Count);
        Assert.All(streamed, kv => Assert.True(kv.Value, $"{kv.Key} was streamed non-contiguous"));
        foreach (var name in names)
        {
            var a = fast.Taps[name];
            using var b = plain.Taps[name].detach();
            Assert.True(a.is_contiguous(), $"{name} was returned non-contiguous");
            Assert.Equal(b.shape, a.shape);
            Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-5), $"{name} differs between layouts by {(a - b).abs().max().item<float>()}");
        }
        Assert.True(fast.Outputs["logits"].is_contiguous());
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
