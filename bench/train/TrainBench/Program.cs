using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LayerLens.Models;
using LayerLens.Training;
using TorchSharp;
using static TorchSharp.torch;

// LayerLens side of the training benchmark (bench/train/run.sh): FineTuner on an imported ResNet-18 graph,
// everything trained (TrainLayers.All), a regression head on the penultimate layer, AdamW, gradient clipping at 5,
// MSE on standardised targets, no augmentation. Epoch 1 is the warm-up; the later epochs' training time (steps
// only: FineTuner's validation and checkpoint are outside EpochMetrics.TrainSeconds) gives images per second.
//   dotnet TrainBench.dll --model resnet18.onnx --threads 2 --batch 32 --size 224 --steps 3 --epochs 2 --json out.json

var o = args.Select((a, i) => (a, i)).Where(p => p.a.StartsWith("--", StringComparison.Ordinal))
            .ToDictionary(p => p.a[2..], p => args[p.i + 1]);
string Get(string k, string d) => o.TryGetValue(k, out var v) ? v : d;
int threads = int.Parse(Get("threads", "2"), CultureInfo.InvariantCulture);
int batch = int.Parse(Get("batch", "32"), CultureInfo.InvariantCulture);
int size = int.Parse(Get("size", "224"), CultureInfo.InvariantCulture);
int steps = int.Parse(Get("steps", "3"), CultureInfo.InvariantCulture);
int epochs = int.Parse(Get("epochs", "2"), CultureInfo.InvariantCulture);

using var graph = ModelLoader.Load(Get("model", "resnet18.onnx"));
torch.set_num_threads(threads);
torch.set_num_interop_threads(1);
var g = new Generator(0);
using var images = torch.rand(new long[] { batch * steps, 3, size, size }, generator: g);
using var targets = torch.rand(new long[] { batch * steps }, generator: g);
using var valImages = torch.rand(new long[] { 2, 3, size, size }, generator: g);
using var valTargets = torch.tensor(new float[] { 0, 1 });
var options = new FineTuneOptions
{
    TrainLayers = TrainLayers.All, Epochs = epochs, BatchSize = batch, LearningRate = 1e-3, WeightDecay = 1e-4,
    Optimizer = OptimizerKind.AdamW, Schedule = ScheduleKind.Constant, ClipNorm = 5, Loss = LossKind.Mse, Patience = 0, Seed = 0,
};
if (Get("profile", "0") == "1") { Profile(); return; }
using var tuner = new FineTuner(graph, options);
var dir = Path.Combine(Path.GetTempPath(), "layerlens-train-bench-" + Environment.ProcessId);
var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
// CPU seconds per epoch (training steps, the 2-image validation and the checkpoint), read when Fit reports an epoch.
var epochCpu = new List<double>();
var lastCpu = cpu0;
var history = tuner.Fit(new InMemoryTrainingData(images, targets), new InMemoryTrainingData(valImages, valTargets), dir,
    new LayerLens.SyncProgress<string>(line =>
    {
        if (!line.StartsWith("epoch ", StringComparison.Ordinal)) return;
        var now = Process.GetCurrentProcess().TotalProcessorTime;
        epochCpu.Add((now - lastCpu).TotalSeconds);
        lastCpu = now;
    }));
var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
Directory.Delete(dir, true);
var timed = history.Skip(1).ToList();
double stepSeconds = timed.Sum(h => h.TrainSeconds) / (timed.Count * steps);
long peakKb = File.ReadLines("/proc/self/status").Where(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
                  .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture)).FirstOrDefault();
var summary = new Dictionary<string, object>
{
    ["side"] = "layerlens",
    ["threads"] = torch.get_num_threads(),
    ["batch"] = batch,
    ["size"] = size,
    ["steps_per_epoch"] = steps,
    ["feature_layer"] = tuner.FeatureLayer,
    ["trained_tensors"] = tuner.TrainedParameters.Count,
    ["trained_values"] = tuner.TrainedParameters.Sum(k => graph.Constants[k].numel()),
    ["epoch_train_seconds"] = history.Select(h => h.TrainSeconds).ToArray(),
    ["epoch_seconds"] = history.Select(h => h.Seconds).ToArray(),
    ["step_seconds_mean"] = stepSeconds,
    ["images_per_second"] = batch / stepSeconds,
    ["cpu_seconds_total"] = cpu,
    ["epoch_cpu_seconds"] = epochCpu.ToArray(),
    ["cpu_seconds_per_step"] = epochCpu.Skip(1).Sum() / ((epochCpu.Count - 1) * steps),
    ["train_loss"] = history.Select(h => h.TrainLoss).ToArray(),
    ["peak_rss_mb"] = peakKb / 1024.0,
};
var text = JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true });
if (o.TryGetValue("json", out var json)) File.WriteAllText(json, text);
Console.WriteLine(text);

// Where a step's time goes: forward (graph with autograd), backward, clip, update; CPU seconds of this process.
void Profile()
{
    var feature = FineTuner.PenultimateLayer(graph);
    var trainable = graph.Parameters.Where(kv => kv.Key != graph.Nodes.Last().Inputs.ElementAtOrDefault(1) && kv.Key != graph.Nodes.Last().Inputs.ElementAtOrDefault(2))
        .ToDictionary(kv => kv.Key, kv => (kv.Value, 1.0));
    if (Get("cl-weights", "0") == "1")
        foreach (var k in trainable.Keys.ToList())
            if (trainable[k].Item1.dim() == 4)
            {
                var cl = trainable[k].Item1.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
                graph.SetConstant(k, cl);
                trainable[k] = (cl, 1.0);
            }
    var w = torch.zeros(1, 512).requires_grad_(true);
    var b = torch.zeros(1).requires_grad_(true);
    trainable["w"] = (w, 1.0);
    trainable["b"] = (b, 1.0);
    foreach (var (t, _) in trainable.Values) t.requires_grad_(true);
    using var opt = new Optimizer(options, trainable);
    double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
    using var x0 = images.narrow(0, 0, batch);
    using var x = Get("channels-last", "0") == "1" ? x0.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : x0.contiguous();
    using var y = targets.narrow(0, 0, batch);
    for (int step = 0; step < steps + 1; step++)
    {
        using var scope = torch.NewDisposeScope();
        double c0 = Cpu();
        opt.ZeroGrad();
        using var r = graph.Run(x, new LayerLens.Models.Engine.RunOptions { Taps = new[] { feature }, Grad = true, CheckFinite = false });
        var f = r.Taps[feature];
        var loss = torch.nn.functional.mse_loss(torch.nn.functional.linear(f, w, b).flatten(), y);
        double c1 = Cpu();
        loss.backward();
        double c2 = Cpu();
        opt.ClipGradients(5);
        double c3 = Cpu();
        opt.Update(1e-3);
        double c4 = Cpu();
        Console.WriteLine($"step {step}: forward {c1 - c0:0.00} s, backward {c2 - c1:0.00} s, clip {c3 - c2:0.00} s, update {c4 - c3:0.00} s (CPU)");
    }
}
