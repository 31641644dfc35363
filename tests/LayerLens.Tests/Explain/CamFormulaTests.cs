using LayerLens.Classification;
using LayerLens.Explain;
using LayerLens.Explain.Cam;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Models.Engine;
using LayerLens.Tests.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Explain;

/// <summary>
/// Each method on a 2-channel, 2×2 layer feeding global average pooling and a linear head, where activations equal
/// the input (ReLU of non-negative values) and dScore/dA_k = W[c, k] / 4 everywhere, so every map is worked out by hand.
/// </summary>
public class CamFormulaTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "layerlens-cam-" + Guid.NewGuid().ToString("N"));

    public CamFormulaTests()
    {
        Directory.CreateDirectory(_dir);
        LayerLens.Native.TorchRuntime.EnsureLoaded();
    }

    public void Dispose() => Directory.Delete(_dir, true);

    // A_0 = [[1, 2], [3, 4]], A_1 = [[4, 1], [0, 2]] (row-major); class 0 weights [1, -0.5], class 1 [0.5, 2].
    static readonly double[] A0 = { 1, 2, 3, 4 }, A1 = { 4, 1, 0, 2 };
    static readonly float[] W = { 1f, -0.5f, 0.5f, 2f, -1f, -1f };
    static readonly float[] Bias = { 0f, 0.1f, 5f };

    /// <summary>X → Relu (layer "a") → pool → Gemm → "logits" [→ Softmax → "probs"]; NCHW, or NHWC with layout metadata.</summary>
    string Model(bool nhwc = false, bool softmax = false, bool pool = true)
    {
        var b = new OnnxModelBuilder().Input("x", new long[] { -1, 2, 2, 2 });
        if (nhwc) b.Metadata("layout", "NHWC");
        b.Node("Relu", new[] { "x" }, new[] { "a" });
        if (!pool)
            b.Int64Initializer("shape", new long[] { 2 }, new long[] { -1, 8 }).Node("Reshape", new[] { "a", "shape" }, new[] { "p" })
             .Initializer("w8", new long[] { 3, 8 }, Enumerable.Range(0, 24).Select(i => (float)Math.Sin(i)).ToArray())
             .Node("Gemm", new[] { "p", "w8", "bias" }, new[] { "logits" }, null, OnnxModelBuilder.Int("transB", 1));
        else if (nhwc)
            b.Node("ReduceMean", new[] { "a" }, new[] { "p" }, null, OnnxModelBuilder.Ints("axes", 1, 2), OnnxModelBuilder.Int("keepdims", 0))
             .Node("Gemm", new[] { "p", "w", "bias" }, new[] { "logits" }, null, OnnxModelBuilder.Int("transB", 1));
        else
            b.Node("GlobalAveragePool", new[] { "a" }, new[] { "gap" }).Node("Flatten", new[] { "gap" }, new[] { "p" })
             .Node("Gemm", new[] { "p", "w", "bias" }, new[] { "logits" }, null, OnnxModelBuilder.Int("transB", 1));
        b.Initializer("w", new long[] { 3, 2 }, W).Initializer("bias", new long[] { 3 }, Bias);
        if (softmax) b.Node("Softmax", new[] { "logits" }, new[] { "probs" }, null, OnnxModelBuilder.Int("axis", 1)).Output("probs", -1, 3);
        else b.Output("logits", -1, 3);
        return b.Save(Path.Combine(_dir, $"m{(nhwc ? "h" : "c")}{(softmax ? "s" : "")}{(pool ? "" : "f")}.onnx"));
    }

    static Tensor Input(bool nhwc = false)
    {
        var x = tensor(A0.Concat(A1).Select(v => (float)v).ToArray()).reshape(1, 2, 2, 2);
        return nhwc ? x.permute(0, 2, 3, 1).contiguous() : x;
    }

    static double[] Rescale(double[] m)
    {
        var r = m.Select(v => Math.Max(0, v)).ToArray();
        double lo = r.Min(), hi = r.Max() - lo;
        return r.Select(v => (v - lo) / (hi + 1e-7)).ToArray();
    }

    static double[] Combine(double w0, double w1) => A0.Zip(A1, (a, b) => w0 * a + w1 * b).ToArray();

    static float[] Map(string model, CamMethod method, CamTarget target, bool nhwc = false, CamScore score = CamScore.Raw, bool eigen = false)
    {
        using var graph = ModelLoader.Load(model);
        using var x = Input(nhwc);
        var r = new CamEngine(graph).Compute(x, new CamRequest(new[] { method }, new[] { "a" }, target, score, EigenSmooth: eigen, MaskBatchSize: 1));
        Assert.Equal(2, r.Height);
        Assert.Equal(2, r.Width);
        return r.Maps[method][0];
    }

    static void Near(double[] expected, float[] actual, double tol = 1e-5)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) < tol, $"pixel {i}: expected {expected[i]:0.#####}, got {actual[i]:0.#####} ([{string.Join(", ", actual)}])");
    }

    static readonly CamTarget Class0 = new CamTarget.ClassIndex(0), Class1 = new CamTarget.ClassIndex(1);

    [Theory]
    [InlineData(CamMethod.Cam)]
    [InlineData(CamMethod.GradCam)]
    [InlineData(CamMethod.HiResCam)]
    [InlineData(CamMethod.XGradCam)]
    public void Linear_methods_weigh_channels_by_the_class_row(CamMethod method)
    {
        // w ∝ [1, -0.5]: A0 - 0.5 A1 = [-1, 1.5, 3, 3] → ReLU → [0, 1.5, 3, 3] / 3.
        Near(new[] { 0, 0.5, 1, 1 }, Map(Model(), method, Class0));
        // For XGrad-CAM Σ A_k g_k / Σ A_k = g_k since g is constant over positions; HiResCAM's g ⊙ A sums to the same.
    }

    [Fact]
    public void LayerCam_keeps_only_positive_gradients()
    {
        // ReLU(g) = [0.25, 0]: the map is A0 alone.
        Near(new[] { 0, 1 / 3.0, 2 / 3.0, 1 }, Map(Model(), CamMethod.LayerCam, Class0));
        // Class 1, g = [0.125, 0.5] both positive: 0.125 A0 + 0.5 A1 = [2.125, 0.75, 0.375, 1.5].
        Near(Rescale(new[] { 2.125, 0.75, 0.375, 1.5 }), Map(Model(), CamMethod.LayerCam, Class1));
    }

    [Fact]
    public void GradCamPlusPlus_alpha_from_squared_and_cubed_gradients()
    {
        // Class 1: g0 = 1/8, g1 = 1/2, ΣA0 = 10, ΣA1 = 7.
        // α0 = (1/64) / (2/64 + 10/512) = 4/13, w0 = 4 · α0 · g0 = 2/13; α1 = (1/4) / (1/2 + 7/8) = 2/11, w1 = 4 · α1 · g1 = 4/11.
        Near(Rescale(Combine(2 / 13.0, 4 / 11.0)), Map(Model(), CamMethod.GradCamPlusPlus, Class1));
    }

    [Fact]
    public void ScoreCam_softmax_of_masked_input_scores()
    {
        // Masks: A0 → [0, 1/3, 2/3, 1], A1 → [1, 1/4, 0, 1/2]. Masked inputs pass the ReLU unchanged, so for class 0
        // mask 0 scores mean([0, 2/3, 2, 4]) − 0.5 · mean([0, 1/3, 0, 2]) = 5/3 − 7/24 = 1.375,
        // mask 1 scores mean([1, 1/2, 0, 2]) − 0.5 · mean([4, 1/4, 0, 1]) = 0.875 − 0.65625 = 0.21875.
        double e0 = Math.Exp(1.375), e1 = Math.Exp(0.21875);
        Near(Rescale(Combine(e0 / (e0 + e1), e1 / (e0 + e1))), Map(Model(), CamMethod.ScoreCam, Class0));
    }

    [Fact]
    public void AblationCam_relative_score_drop_per_channel()
    {
        // Class 0: y = 2.5 − 0.5 · 1.75 = 1.625; without A0 y = −0.875, without A1 y = 2.5.
        // w0 = (1.625 + 0.875) / 1.625, w1 = (1.625 − 2.5) / 1.625.
        Near(Rescale(Combine(2.5 / 1.625, -0.875 / 1.625)), Map(Model(), CamMethod.AblationCam, Class0));
    }

    [Fact]
    public void EigenCam_first_principal_component_of_the_activations()
    {
        // Positions × channels, centred: (−1.5, 2.25), (−0.5, −0.75), (0.5, −1.75), (1.5, 0.25).
        // XᵀX = [[5, −3.5], [−3.5, 8.75]]: largest eigenvalue λ = (13.75 + √63.0625) / 2, eigenvector ∝ (−3.5, λ − 5).
        double lambda = (13.75 + Math.Sqrt(63.0625)) / 2, v0 = -3.5, v1 = lambda - 5, n = Math.Sqrt(v0 * v0 + v1 * v1);
        var p = new[] { (-1.5, 2.25), (-0.5, -0.75), (0.5, -1.75), (1.5, 0.25) }.Select(r => (r.Item1 * v0 + r.Item2 * v1) / n).ToArray();
        if (p[Array.IndexOf(p.Select(Math.Abs).ToArray(), p.Select(Math.Abs).Max())] < 0) p = p.Select(v => -v).ToArray();
        Near(Rescale(p), Map(Model(), CamMethod.EigenCam, Class0));
        // Eigen-Grad-CAM of class 0 projects g ⊙ A = [A0 / 4, −A1 / 8]; Grad-CAM with eigen-smooth projects the same.
        var q = Map(Model(), CamMethod.EigenGradCam, Class0);
        Near(q.Select(v => (double)v).ToArray(), Map(Model(), CamMethod.GradCam, Class0, eigen: true));
        Assert.NotEqual(Map(Model(), CamMethod.EigenCam, Class0), q);
    }

    [Theory]
    [InlineData(CamMethod.Cam)]
    [InlineData(CamMethod.GradCam)]
    [InlineData(CamMethod.GradCamPlusPlus)]
    [InlineData(CamMethod.LayerCam)]
    [InlineData(CamMethod.ScoreCam)]
    [InlineData(CamMethod.AblationCam)]
    [InlineData(CamMethod.EigenCam)]
    public void Nhwc_graph_gives_the_maps_of_the_same_nchw_graph(CamMethod method)
    {
        var nchw = Map(Model(), method, Class1);
        var nhwc = Map(Model(nhwc: true), method, Class1, nhwc: true);
        Near(nchw.Select(v => (double)v).ToArray(), nhwc);
        Assert.True(nchw.Max() > 0.99f);
    }

    /// <summary>An ONNX graph taking NHWC images and transposing them to NCHW inside (as Keras exports do).</summary>
    string TransposingModel(bool transpose)
    {
        var b = new OnnxModelBuilder().Input("x", transpose ? new long[] { -1, 6, 6, 3 } : new long[] { -1, 3, 6, 6 });
        if (transpose) b.Node("Transpose", new[] { "x" }, new[] { "t" }, null, OnnxModelBuilder.Ints("perm", 0, 3, 1, 2));
        b.Initializer("k", new long[] { 4, 3, 3, 3 }, Enumerable.Range(0, 108).Select(i => (float)Math.Cos(i * 0.7)).ToArray())
         .Node("Conv", new[] { transpose ? "t" : "x", "k" }, new[] { "c" }, null, OnnxModelBuilder.Ints("pads", 1, 1, 1, 1), OnnxModelBuilder.Ints("strides", 2, 2))
         .Node("Relu", new[] { "c" }, new[] { "a" })
         .Node("GlobalAveragePool", new[] { "a" }, new[] { "gap" }).Node("Flatten", new[] { "gap" }, new[] { "p" })
         .Initializer("w", new long[] { 2, 4 }, new[] { 1f, -0.5f, 0.25f, 2f, -1f, 1f, 0.5f, 0.3f }).Initializer("bias", new long[] { 2 }, new[] { 0.5f, 0f })
         .Node("Gemm", new[] { "p", "w", "bias" }, new[] { "logits" }, null, OnnxModelBuilder.Int("transB", 1)).Output("logits", -1, 2);
        return b.Save(Path.Combine(_dir, transpose ? "nhwc-in.onnx" : "nchw-in.onnx"));
    }

    [Fact]
    public void Onnx_graph_with_nhwc_images_gives_maps_of_input_size()
    {
        using var plain = ModelLoader.Load(TransposingModel(false));
        using var keras = ModelLoader.Load(TransposingModel(true));
        using var nchw = rand(new long[] { 1, 3, 6, 6 }, generator: new Generator(4));
        using var nhwc = nchw.permute(0, 2, 3, 1).contiguous();
        var request = new CamRequest(Enum.GetValues<CamMethod>(), new[] { "a" }, CamTarget.Top1, AugSmooth: true, MaskBatchSize: 3);
        var e1 = new CamEngine(plain);
        var e2 = new CamEngine(keras);
        Assert.False(e2.ChannelsLast);
        Assert.True(e2.InputChannelsLast(nhwc));
        var r1 = e1.Compute(nchw, request);
        var r2 = e2.Compute(nhwc, request);
        Assert.Equal((6, 6), (r2.Height, r2.Width));
        foreach (var m in Enum.GetValues<CamMethod>())
        {
            Near(r1.Maps[m][0].Select(v => (double)v).ToArray(), r2.Maps[m][0]);
            Assert.True(r1.Maps[m][0].Max() > 0.99f, m.ToString());
        }
        var d1 = new Faithfulness(plain, new FaithfulnessOptions(Steps: 6)).Deletion(nchw, r1.Maps[CamMethod.GradCam], r1.TargetClass);
        var d2 = new Faithfulness(keras, new FaithfulnessOptions(Steps: 6)).Deletion(nhwc, r1.Maps[CamMethod.GradCam], r1.TargetClass);
        Near(d1[0].Scores, d2[0].Scores.Select(v => (float)v).ToArray());
    }

    [Fact]
    public void Raw_score_differentiates_the_logits_behind_a_softmax_output()
    {
        using var graph = ModelLoader.Load(Model(softmax: true));
        var engine = new CamEngine(graph);
        Assert.Equal("logits", engine.LogitsOf("probs"));
        using var x = Input();
        var raw = engine.LayerGradients(x, "a", Class0, CamScore.Raw);
        Assert.Equal(new long[] { 1, 2, 2, 2 }, raw.Shape);
        Near(new[] { 0.25, 0.25, 0.25, 0.25, -0.125, -0.125, -0.125, -0.125 }, raw.Gradients);
        Assert.Equal(new[] { 1f, 2, 3, 4, 4, 1, 0, 2 }, raw.Activations);
        // Softmax score: d p0 / d A_k = p0 · (W[0, k] − Σ_j p_j W[j, k]) / 4.
        var z = new[] { 1.625, 4.85, 0.75 };
        var p = z.Select(Math.Exp).Select(v => v / z.Select(Math.Exp).Sum()).ToArray();
        var soft = engine.LayerGradients(x, "a", Class0, CamScore.Softmax);
        for (int k = 0; k < 2; k++)
        {
            double g = p[0] * (W[k] - Enumerable.Range(0, 3).Sum(j => p[j] * W[j * 2 + k])) / 4;
            Assert.Equal(g, soft.Gradients[k * 4], 6);
        }
        // The probabilities reported are the softmax output, not a softmax of it.
        var r = engine.Compute(x, new CamRequest(new[] { CamMethod.GradCam }, new[] { "a" }, CamTarget.Top1));
        Assert.Equal(1, r.TargetClass[0]);
        for (int k = 0; k < 3; k++) Assert.Equal(p[k], r.Probabilities[0][k], 5);
        Near(Rescale(new[] { 0.5 * 1 + 2 * 4, 0.5 * 2 + 2 * 1, 0.5 * 3 + 0, 0.5 * 4 + 2 * 2 }), r.Maps[CamMethod.GradCam][0]);
    }

    [Fact]
    public void Targets_by_rank_index_and_name()
    {
        using var graph = ModelLoader.Load(Model());
        using var x = Input();
        var labels = LabelSet.FromNames("t", new[] { "zero", "one", "two" });
        var engine = new CamEngine(graph, labels);
        // Logits [1.625, 4.85, 0.75]: rank 0 → class 1, rank 1 → class 0, rank 2 → class 2.
        int Class(CamTarget t) => engine.Compute(x, new CamRequest(new[] { CamMethod.GradCam }, new[] { "a" }, t)).TargetClass[0];
        Assert.Equal(1, Class(CamTarget.Top1));
        Assert.Equal(0, Class(new CamTarget.Ranked(1)));
        Assert.Equal(2, Class(new CamTarget.Ranked(2)));
        Assert.Equal(2, Class(new CamTarget.ClassName("Two")));
        Assert.Equal(0, Class(new CamTarget.ClassIndex(0)));
        var e = Assert.Throws<LayerLensException>(() => Class(new CamTarget.ClassName("three")));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<LayerLensException>(() => Class(new CamTarget.Ranked(3))).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<LayerLensException>(() => new CamEngine(graph).Compute(x,
            new CamRequest(new[] { CamMethod.GradCam }, new[] { "a" }, new CamTarget.ClassName("one")))).Kind);
    }

    [Fact]
    public void Bad_requests_are_one_line_errors()
    {
        using var graph = ModelLoader.Load(Model(pool: false));
        using var x = Input();
        var engine = new CamEngine(graph);
        var e = Assert.Throws<LayerLensException>(() => engine.Compute(x, new CamRequest(new[] { CamMethod.Cam }, new[] { "a" }, CamTarget.Top1)));
        Assert.Equal(ErrorKind.BadInput, e.Kind);
        Assert.Contains("global average pool", e.Message);
        e = Assert.Throws<LayerLensException>(() => engine.Compute(x, new CamRequest(new[] { CamMethod.GradCam }, new[] { "nope" }, CamTarget.Top1)));
        Assert.Contains("'nope'", e.Message);
        e = Assert.Throws<LayerLensException>(() => engine.Compute(x, new CamRequest(new[] { CamMethod.GradCam }, new[] { "p" }, CamTarget.Top1)));
        Assert.Contains("4-D", e.Message);
        // Without pooling the gradient differs per position: Grad-CAM still works there.
        var r = engine.Compute(x, new CamRequest(new[] { CamMethod.GradCam, CamMethod.HiResCam }, new[] { "a" }, CamTarget.Top1));
        Assert.NotEqual(r.Maps[CamMethod.GradCam][0], r.Maps[CamMethod.HiResCam][0]);
    }

    [Fact]
    public void Gradients_match_central_finite_differences()
    {
        // The small CNN of the PyTorch fixtures, at the first ReLU (a convolution and a ReLU lie before the pooling).
        var dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Cam");
        using var graph = ModelLoader.Load(Path.Combine(dir, "cnn.onnx"));
        var layer = graph.Layers.First(l => l.OpType == "Relu").Name;
        using var x = Npy.Read(Path.Combine(dir, "input.npy"));
        var engine = new CamEngine(graph);
        foreach (var score in new[] { CamScore.Raw, CamScore.Softmax })
        {
            var (shape, act, grad, cls) = engine.LayerGradients(x, layer, CamTarget.Top1, score);
            var rng = new Random(3);
            int checkedCount = 0;
            for (int trial = 0; trial < 12; trial++)
            {
                int i = rng.Next(act.Length);
                const float eps = 1e-2f;
                double Score(float delta)
                {
                    using var scope = NewDisposeScope();
                    var bump = zeros(shape).flatten();
                    bump[i] = delta;
                    var bumpShaped = bump.reshape(shape);
                    using var r = graph.Run(x, new RunOptions { Replace = new Dictionary<string, Func<Tensor, Tensor>> { [layer] = v => v.add(bumpShaped) } });
                    var logits = r.Outputs[graph.OutputNames[0]].to_type(ScalarType.Float64);
                    var s = score == CamScore.Softmax ? logits.softmax(1) : logits;
                    int b = (int)(i / (shape[1] * shape[2] * shape[3]));
                    return s[b, cls[b]].item<double>();
                }
                double fd = (Score(eps) - Score(-eps)) / (2 * eps);
                Assert.True(Math.Abs(fd - grad[i]) < 1e-3 + 1e-2 * Math.Abs(grad[i]), $"{score} element {i}: autograd {grad[i]:g5}, finite difference {fd:g5}");
                if (grad[i] != 0) checkedCount++;
            }
            Assert.True(checkedCount >= 4, "too few non-zero gradients checked");
        }
    }

    [Fact]
    public void Native_memory_stays_flat_over_many_batches()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Cam");
        using var graph = ModelLoader.Load(Path.Combine(dir, "cnn.onnx"));
        var layer = graph.Layers.Last(l => l.OpType == "Relu").Name;
        using var x = Npy.Read(Path.Combine(dir, "input.npy"));
        var engine = new CamEngine(graph);
        var request = new CamRequest(Enum.GetValues<CamMethod>(), new[] { layer }, CamTarget.Top1, AugSmooth: true, MaskBatchSize: 3);
        engine.Compute(x, request);
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 10; i++) engine.Compute(x, request);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
