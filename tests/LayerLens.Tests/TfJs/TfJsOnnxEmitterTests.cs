using LayerLens.Models;
using LayerLens.Models.Onnx;
using LayerLens.Models.TfJs;
using LayerLens.Training;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Tensor = TorchSharp.torch.Tensor;

namespace LayerLens.Tests.TfJs;

/// <summary>TF.js graphs written as ONNX: ONNX Runtime must reproduce LayerLens's outputs on the saved file.</summary>
public class TfJsOnnxEmitterTests(Xunit.Abstractions.ITestOutputHelper log)
{
    /// <summary>Runs <paramref name="path"/> with ONNX Runtime on an NHWC float batch; outputs by name.</summary>
    static Dictionary<string, float[]> RunOrt(string path, string input, Tensor x)
    {
        using var session = new InferenceSession(path);
        var dense = new DenseTensor(x.contiguous().data<float>().ToArray(), x.shape.Select(d => (int)d).ToArray());
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(input, dense) });
        return results.ToDictionary(r => r.Name, r => r.AsEnumerable<float>().ToArray());
    }

    static void AssertClose(float[] ort, float[] ours, string what)
    {
        Assert.Equal(ours.Length, ort.Length);
        double worst = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            double err = Math.Abs(ort[i] - ours[i]) / Math.Max(1, Math.Abs(ours[i]));
            worst = Math.Max(worst, err);
            Assert.True(err <= 1e-4, $"{what}[{i}]: ONNX Runtime {ort[i]} vs LayerLens {ours[i]}");
        }
    }

    [Theory]
    [InlineData("emotion", 64, 1)]
    [InlineData("faceres", 224, 3)]
    public void Onnx_runtime_reproduces_the_original_zoo_model(string name, int size, int channels)
    {
        _ = TfJsReference.HumanModelsDir;
        using var graph = ModelLoader.Load("zoo:" + name);
        var path = Path.Combine(TestPaths.NewTempDir(), name + ".onnx");
        TfJsOnnxEmitter.Save(graph, path);

        using var x = torch.rand(2, size, size, channels, generator: new Generator(31)).mul(2).sub(1);
        using var r = graph.Run(x);
        var ort = RunOrt(path, graph.Inputs[0].Name, x);
        Assert.Equal(graph.OutputNames.Order(), ort.Keys.Order());
        foreach (var o in graph.OutputNames)
        {
            var ours = r.Outputs[o].contiguous().data<float>().ToArray();
            Assert.True(ours.Select(Math.Abs).Max() > 1e-3, $"{o} is all zeros; the comparison would prove nothing");
            AssertClose(ort[o], ours, $"{name} {o}");
        }

        // The file is a LayerLens model too, with the TF.js layer names and layout.
        using var reloaded = ModelLoader.Load(path);
        Assert.Equal("NHWC", reloaded.Metadata["layout"]);
        var someLayer = graph.Layers[graph.Layers.Count / 2].Name;
        Assert.True(reloaded.HasLayer(someLayer), $"layer {someLayer} is missing from the ONNX file");
        using var r2 = reloaded.Run(x, new() { Taps = new[] { someLayer } });
        using var r1 = graph.Run(x, new() { Taps = new[] { someLayer } });
        Assert.True(r1.Taps[someLayer].allclose(r2.Taps[someLayer], 1e-4, 1e-4), $"layer {someLayer} differs after the round trip");
    }

    /// <summary>RGB [0, 1] NCHW → grey in [-1, 1], NHWC, as the emotion model is fed.</summary>
    static Tensor Gray11Nhwc(Tensor rgb) => (rgb.mean(new long[] { 1 }, keepdim: true) * 2 - 1).permute(0, 2, 3, 1).contiguous();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Onnx_runtime_reproduces_a_fine_tuned_emotion_model_with_its_new_head(bool classes)
    {
        _ = TfJsReference.HumanModelsDir;
        using var graph = ModelLoader.Load("zoo:emotion");
        using var original = ModelLoader.Load("zoo:emotion");
        var (images, targets) = Training.FineTuneTests.Squares(48, 41);
        var (valImages, valTargets) = Training.FineTuneTests.Squares(16, 42);
        if (classes)
        {
            // Three classes by the square's side: small, medium, large.
            targets = (targets / 14).floor().clamp(0, 2);
            valTargets = (valTargets / 14).floor().clamp(0, 2);
        }
        var options = new FineTuneOptions
        {
            TrainLayers = TrainLayers.All, Epochs = 1, BatchSize = 16, LearningRate = 3e-3, Seed = 3,
            Head = classes ? HeadKind.Classes : HeadKind.Regression, Classes = classes ? 3 : 0,
            Loss = classes ? LossKind.CrossEntropy : LossKind.Mse,
        };
        using var tuner = new FineTuner(graph, options, Gray11Nhwc);
        tuner.Fit(new InMemoryTrainingData(images, targets), new InMemoryTrainingData(valImages, valTargets), TestPaths.NewTempDir());
        Assert.Equal(4, tuner.FeatureRank);
        var changed = tuner.TrainedParameters.Count(k => !graph.Constants[k].allclose(original.Constants[k], 0, 0));
        log.WriteLine($"feature layer {tuner.FeatureLayer}; {changed} of {tuner.TrainedParameters.Count} trained tensors changed");
        Assert.True(changed > 10, $"only {changed} network tensors changed; the test needs a fine-tuned network");

        var path = Path.Combine(TestPaths.NewTempDir(), "model.onnx");
        var (w, b) = tuner.Head();
        OnnxExporter.Save(graph, path, tuner.FeatureLayer, w, b, tuner.FeatureRank, probabilities: classes);

        var (test, _) = Training.FineTuneTests.Squares(5, 43);
        var ours = tuner.Outputs(test).flatten().data<float>().ToArray();
        var ort = RunOrt(path, graph.Inputs[0].Name, Gray11Nhwc(test));
        Assert.Equal(classes ? new[] { OnnxExporter.HeadOutput, OnnxExporter.ProbabilitiesOutput } : new[] { OnnxExporter.HeadOutput },
            ort.Keys.Order().ToArray());
        Assert.True(ours.Max() - ours.Min() > 1e-3, "the fine-tuned predictions are constant; the comparison would prove nothing");
        AssertClose(ort[OnnxExporter.HeadOutput], ours, "fine-tuned head");
        if (classes)
        {
            using var logits = torch.tensor(ours).reshape(5, 3);
            AssertClose(ort[OnnxExporter.ProbabilitiesOutput], logits.softmax(1).flatten().data<float>().ToArray(), "class probabilities");
        }

        // The saved file, loaded back into LayerLens, predicts the same.
        using var reloaded = ModelLoader.Load(path);
        using var r = reloaded.Run(Gray11Nhwc(test));
        AssertClose(r.Outputs[OnnxExporter.HeadOutput].flatten().data<float>().ToArray(), ours, "reloaded head");
    }
}
