using LayerLens.Classification;
using LayerLens.Explain;
using LayerLens.Explain.Cam;
using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Tests.TfJs;
using LayerLens.Zoo;
using Xunit.Abstractions;

namespace LayerLens.Tests.Explain;

/// <summary>A real run: every method on zoo:emotion (TensorFlow.js, NHWC, Softmax output) over a photographed face.</summary>
public class CamEmotionTests
{
    readonly ITestOutputHelper _out;

    public CamEmotionTests(ITestOutputHelper output) => _out = output;

    [Fact]
    public void Every_method_gives_a_valid_non_constant_map_on_the_emotion_model()
    {
        _ = TfJsReference.HumanModelsDir;
        using var graph = ModelLoader.Load("zoo:emotion");
        var classifier = ImageClassifier.ForZoo(graph, ModelZoo.Default().Get("emotion"));
        var photo = ImageDecoder.Decode(TfJsReference.FixturePath("Photos", "astronaut.png"));
        var face = photo.Crop(100, 25, 80, 90); // the smiling face, as PhotoEndToEndTests crops it
        var (input, _) = classifier.Prepare(face);
        using var _input = input;
        var engine = new CamEngine(graph, classifier.Labels);
        Assert.True(engine.ChannelsLast);
        string Layer(string suffix) => graph.Layers.Single(l => l.Name.EndsWith(suffix, StringComparison.Ordinal)).Name;
        var block = Layer("add_2/add");            // last residual block, NHWC [1, h, w, 128]
        var classMaps = Layer("conv2d_5/BiasAdd");  // 7 class maps, read by the global average pool
        Assert.Equal(Layer("global_average_pooling2d_1/Mean"), engine.LogitsOf(graph.OutputNames[0]));

        var gradientFree = Enum.GetValues<CamMethod>().Where(m => m != CamMethod.Cam).ToArray();
        var results = new[]
        {
            (Name: "block", Result: engine.Compute(input, new CamRequest(gradientFree, new[] { block }, CamTarget.Top1, MaskBatchSize: 32))),
            (Name: "cam", Result: engine.Compute(input, new CamRequest(new[] { CamMethod.Cam, CamMethod.GradCam }, new[] { classMaps }, new CamTarget.ClassName("happy")))),
            (Name: "smoothed", Result: engine.Compute(input, new CamRequest(new[] { CamMethod.GradCam, CamMethod.LayerCam }, new[] { block, classMaps }, CamTarget.Top1,
                CamScore.Softmax, AugSmooth: true, EigenSmooth: true))),
        };
        foreach (var (name, r) in results)
        {
            Assert.Equal(64, r.Height);
            Assert.Equal(64, r.Width);
            Assert.Equal(3, r.TargetClass[0]); // happy
            Assert.Equal(1.0, r.Probabilities[0].Sum(), 4);
            Assert.True(r.Probabilities[0][3] > 0.5);
            foreach (var (method, maps) in r.Maps)
            {
                var m = maps[0];
                Assert.Equal(64 * 64, m.Length);
                Assert.All(m, v => Assert.InRange(v, 0f, 1f));
                double mean = m.Average(), sd = Math.Sqrt(m.Average(v => (v - mean) * (v - mean)));
                _out.WriteLine($"{name} {CamMethodNames.Name(method)}: mean {mean:0.000} sd {sd:0.000}");
                Assert.True(m.Max() > 0.999f, $"{name} {method}: max {m.Max()}");
                Assert.True(sd > 0.05, $"{name} {method}: map nearly constant (sd {sd:0.0000})");
            }
        }
        // At the class-map layer with GAP + identity head, CAM and Grad-CAM both reduce to the happy channel.
        var cam = results[1].Result.Maps;
        Assert.True(cam[CamMethod.Cam][0].Zip(cam[CamMethod.GradCam][0], (a, b) => Math.Abs(a - b)).Max() < 1e-4);
    }
}
