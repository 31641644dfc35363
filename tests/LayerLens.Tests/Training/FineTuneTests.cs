using System.Text.Json;
using LayerLens.Models;
using LayerLens.Models.Onnx;
using LayerLens.Training;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace LayerLens.Tests.Training;

public class FineTuneTests(Xunit.Abstractions.ITestOutputHelper log)
{
    /// <summary>
    /// Images whose target is visible: a bright square of random side (6–40 px) at a random place on a noisy
    /// background of random brightness; the target is the square's side.
    /// </summary>
    internal static (Tensor Images, Tensor Targets) Squares(int n, int seed, int size = 64)
    {
        var g = new Generator((ulong)seed);
        var rng = new Random(seed);
        var images = torch.rand(new long[] { n, 3, size, size }, generator: g) * 0.3;
        var targets = new float[n];
        for (int i = 0; i < n; i++)
        {
            int side = rng.Next(size / 10, size * 5 / 8 + 1);
            int top = rng.Next(0, size - side + 1), left = rng.Next(0, size - side + 1);
            images[i].narrow(1, top, side).narrow(2, left, side).fill_(0.6 + 0.4 * rng.NextDouble());
            images[i].add_(rng.NextDouble() * 0.2);
            targets[i] = side;
        }
        return (images.clamp(0, 1), torch.tensor(targets));
    }

    static ITrainingData Data((Tensor Images, Tensor Targets) d) => new InMemoryTrainingData(d.Images, d.Targets);

    [Fact]
    public void Fine_tuning_beats_the_frozen_ridge_baseline_and_reaches_rho_above_0_9()
    {
        var train = Data(Squares(256, 1, 48));
        var val = Data(Squares(96, 2, 48));
        var test = Data(Squares(128, 3, 48));
        using var graph = ModelLoader.Load(TestPaths.DemoModel);
        var options = new FineTuneOptions
        {
            TrainLayers = TrainLayers.All, Epochs = 10, BatchSize = 32, LearningRate = 3e-3, Patience = 0,
            Loss = LossKind.Mse, Seed = 5, Augment = new Augmentation { HorizontalFlip = true },
        };
        using var tuner = new FineTuner(graph, options);
        Assert.Equal("/Flatten_output_0", tuner.FeatureLayer);
        double ridge = FrozenRidgeSpearman(graph, tuner.FeatureLayer, train, val, test);

        var dir = TestPaths.NewTempDir();
        var history = tuner.Fit(train, val, dir);
        tuner.LoadBest(dir);
        double tuned = tuner.Evaluate(test);
        log.WriteLine($"test Spearman: fine-tuned {tuned:0.000}, frozen ridge {ridge:0.000}; epochs {history.Count}, {history.Sum(h => h.Seconds):0.0} s");
        Assert.True(tuned > 0.9, $"fine-tuned test Spearman {tuned:0.000} (frozen ridge {ridge:0.000})");
        Assert.True(tuned > ridge, $"fine-tuned {tuned:0.000} should beat the frozen ridge baseline {ridge:0.000}");
        Assert.Equal(10, history.Count);
        Assert.True(history[^1].TrainLoss < history[0].TrainLoss);
    }

    /// <summary>The baseline: ridge regression on the untouched network's features, alpha chosen on validation.</summary>
    static double FrozenRidgeSpearman(Models.Engine.ModelGraph graph, string layer, ITrainingData train, ITrainingData val, ITrainingData test)
    {
        Tensor Features(ITrainingData d)
        {
            var (x, _) = d.Batch(Enumerable.Range(0, d.Count).ToList());
            using var r = graph.Run(x, new Models.Engine.RunOptions { Taps = new[] { layer } });
            return r.Taps[layer].to_type(ScalarType.Float64).clone();
        }
        double[] Targets(ITrainingData d) => d.Batch(Enumerable.Range(0, d.Count).ToList()).Targets.to_type(ScalarType.Float64).data<double>().ToArray();
        var xt = Features(train);
        var mean = xt.mean(new long[] { 0 });
        var sd = xt.std(0) + 1e-8;
        Tensor Z(Tensor x) => torch.cat(new[] { (x - mean) / sd, torch.ones(x.shape[0], 1, dtype: ScalarType.Float64) }, 1);
        var yt = torch.tensor(Targets(train)).reshape(-1, 1);
        double best = double.NegativeInfinity, bestAlpha = 1;
        foreach (var alpha in new[] { 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000 })
        {
            var w = Solve(Z(xt), yt, alpha);
            var p = Z(Features(val)).matmul(w).flatten().data<double>().ToArray();
            double rho = RankCorrelation.Spearman(p, Targets(val));
            if (rho > best) { best = rho; bestAlpha = alpha; }
        }
        var wb = Solve(Z(xt), yt, bestAlpha);
        return RankCorrelation.Spearman(Z(Features(test)).matmul(wb).flatten().data<double>().ToArray(), Targets(test));
    }

    static Tensor Solve(Tensor z, Tensor y, double alpha)
    {
        var a = z.t().matmul(z) + torch.eye(z.shape[1], dtype: ScalarType.Float64) * alpha;
        return torch.linalg.solve(a, z.t().matmul(y));
    }

    [Fact]
    public void A_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_run()
    {
        var train = Data(Squares(96, 11));
        var val = Data(Squares(32, 12));
        var options = new FineTuneOptions
        {
            TrainLayers = TrainLayers.Last(2), Epochs = 3, BatchSize = 16, Dropout = 0.2, Patience = 0, Seed = 9,
            Augment = Augmentation.Standard, Loss = LossKind.Huber, Schedule = ScheduleKind.Cosine, WarmupEpochs = 1,
        };
        (Tensor W, Dictionary<string, Tensor> Graph) Run(FineTuneOptions o, string dir, bool twoParts)
        {
            using var graph = ModelLoader.Load(TestPaths.DemoModel);
            if (twoParts)
            {
                using var first = new FineTuner(graph, o with { StopAfterEpoch = 2 });
                first.Fit(train, val, dir);
            }
            using var graph2 = twoParts ? ModelLoader.Load(TestPaths.DemoModel) : null;
            var g = graph2 ?? graph;
            using var tuner = new FineTuner(g, o);
            var history = tuner.Fit(train, val, dir);
            Assert.Equal(3, history.Count);
            return (tuner.Head().Weight, tuner.TrainedParameters.ToDictionary(k => k, k => g.Constants[k].clone()));
        }
        var (w1, g1) = Run(options, TestPaths.NewTempDir(), twoParts: false);
        var (w2, g2) = Run(options, TestPaths.NewTempDir(), twoParts: true);
        Assert.True(w1.allclose(w2, 0, 0), "head weights differ after resuming");
        Assert.Equal(g1.Keys.Order(), g2.Keys.Order());
        Assert.NotEmpty(g1);
        foreach (var k in g1.Keys) Assert.True(g1[k].allclose(g2[k], 0, 0), $"{k} differs after resuming");
    }

    [Fact]
    public void Saved_model_is_reproduced_by_onnx_runtime()
    {
        var train = Data(Squares(64, 21));
        var val = Data(Squares(32, 22));
        using var graph = ModelLoader.Load(TestPaths.DemoModel);
        using var tuner = new FineTuner(graph, new FineTuneOptions { TrainLayers = TrainLayers.All, Epochs = 1, BatchSize = 16, Seed = 1 });
        tuner.Fit(train, val, TestPaths.NewTempDir());
        var path = Path.Combine(TestPaths.NewTempDir(), "model.onnx");
        var (w, b) = tuner.Head();
        OnnxExporter.Save(graph, path, tuner.FeatureLayer, w, b, tuner.FeatureRank);

        var (images, _) = Squares(5, 23);
        var ours = tuner.PredictAll(new InMemoryTrainingData(images, torch.zeros(5))).Predictions;
        using var session = new InferenceSession(path);
        var input = new DenseTensor(images.contiguous().data<float>().ToArray(), new[] { 5, 3, 64, 64 });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("image", input) });
        var ort = results.Single(r => r.Name == OnnxExporter.HeadOutput).AsEnumerable<float>().ToArray();
        Assert.Equal(5, ort.Length);
        for (int i = 0; i < 5; i++)
            Assert.True(Math.Abs(ort[i] - ours[i]) <= 1e-4 * Math.Max(1, Math.Abs(ours[i])), $"image {i}: ORT {ort[i]} vs LayerLens {ours[i]}");

        // The saved file is a LayerLens model too.
        using var reloaded = ModelLoader.Load(path);
        using var r2 = reloaded.Run(images);
        Assert.True(r2.Outputs[OnnxExporter.HeadOutput].flatten().to_type(ScalarType.Float64).allclose(torch.tensor(ours), 1e-5, 1e-5));
    }

    [Fact]
    public void Optimisers_follow_pytorch_adamw_and_sgd()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "Training", "optimizers.json")));
        var root = doc.RootElement;
        double[] Arr(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var grads = root.GetProperty("grads").EnumerateArray().Select(Arr).ToList();
        var lrs = Arr(root.GetProperty("lrs"));
        foreach (var (name, o) in new[]
                 {
                     ("adamw", new FineTuneOptions { Optimizer = OptimizerKind.AdamW, WeightDecay = 0.1 }),
                     ("sgd", new FineTuneOptions { Optimizer = OptimizerKind.Sgd, Momentum = 0.9, WeightDecay = 0.01 }),
                 })
        {
            var p = torch.tensor(Arr(root.GetProperty("start"))).requires_grad_(true);
            using var opt = new Optimizer(o, new Dictionary<string, (Tensor, double)> { ["p"] = (p, 1.0) });
            for (int s = 0; s < grads.Count; s++)
            {
                p.grad = torch.tensor(grads[s]);
                opt.Update(lrs[s]);
            }
            var expected = Arr(root.GetProperty("results").GetProperty(name));
            var actual = p.detach().data<double>().ToArray();
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-12, $"{name}[{i}]: {actual[i]} vs PyTorch {expected[i]}");
        }
    }

    [Fact]
    public void Rank_loss_is_small_for_the_right_order_and_large_for_the_reverse()
    {
        var target = torch.arange(20, dtype: ScalarType.Float32);
        var good = (target * 2 + 1).requires_grad_(true);
        var bad = (-target).requires_grad_(true);
        var lossGood = Losses.SpearmanRank(good, target, 0.1);
        var lossBad = Losses.SpearmanRank(bad, target, 0.1);
        Assert.InRange(lossGood.ToDouble(), 0, 0.01);
        Assert.InRange(lossBad.ToDouble(), 1.99, 2);
        lossBad.backward();
        Assert.True(bad.grad!.abs().sum().ToDouble() > 0);
    }

    [Fact]
    public void Bad_options_and_targets_are_named()
    {
        using var graph = ModelLoader.Load(TestPaths.DemoModel);
        Assert.Contains("cross-entropy needs a class head", Assert.Throws<LayerLensException>(() => new FineTuner(graph, new FineTuneOptions { Loss = LossKind.CrossEntropy })).Message);
        Assert.Contains("no layer 'nope'", Assert.Throws<LayerLensException>(() => new FineTuner(graph, new FineTuneOptions { FeatureLayer = "nope" })).Message);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<LayerLensException>(() => TrainLayers.Parse("some")).Kind);
        using var tuner = new FineTuner(graph, new FineTuneOptions { Epochs = 1 });
        var (images, _) = Squares(8, 1);
        var constant = new InMemoryTrainingData(images, torch.ones(8));
        Assert.Contains("targets are constant", Assert.Throws<LayerLensException>(() => tuner.Fit(constant, constant, TestPaths.NewTempDir())).Message);
    }
}
