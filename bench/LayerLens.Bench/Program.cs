using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LayerLens.Models;
using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

// Throughput and peak memory of one LayerLens configuration, in its own process so that VmHWM belongs to it.
// bench/run.sh runs it next to bench/reference/resnet18_torch.py with the same arguments:
//   --model PATH --mode outputs|layers|profile --threads 2 --batch 32 --size 224 --warmup 1 --iters 3 [--json PATH]
// "profile" taps every layer with a sink that only reads the clock and adds seconds per operator type.

var opts = Args.Parse(args);
var model = opts.Get("model");
var mode = opts.Get("mode", "outputs");
if (mode is not ("outputs" or "layers" or "profile")) throw new ArgumentException($"--mode must be outputs, layers or profile, got '{mode}'");
int threads = int.Parse(opts.Get("threads", "2"), CultureInfo.InvariantCulture);
int batch = int.Parse(opts.Get("batch", "32"), CultureInfo.InvariantCulture);
int size = int.Parse(opts.Get("size", "224"), CultureInfo.InvariantCulture);
int warmup = int.Parse(opts.Get("warmup", "2"), CultureInfo.InvariantCulture);
int iters = int.Parse(opts.Get("iters", "8"), CultureInfo.InvariantCulture);
var jsonPath = opts.GetOrNull("json");

using var graph = ModelLoader.Load(model);
// Set after loading: ModelLoader initialises libtorch, and the count must hold for every op that follows.
torch.set_num_threads(threads);
torch.set_num_interop_threads(1);
torch.manual_seed(0);
using var input = torch.randn(batch, 3, size, size);
// Experiment knob, off by default: wraps each run in torch.inference_mode (the engine itself uses no_grad,
// because inference tensors cannot be modified in place or recorded by autograd later).
bool inferenceMode = opts.Get("inference-mode", "0") == "1";

var layerNames = graph.Layers.Select(l => l.Name).ToList();
var reduced = new List<Tensor>(layerNames.Count);
// Profile mode: every layer is tapped with a sink that only reads the clock, so the gaps between taps are
// the time of each node (all nodes here are layers), summed by operator type.
var byOp = new Dictionary<string, double>(StringComparer.Ordinal);
var clock = Stopwatch.StartNew();
double lastTap = 0;
RunOptions runOptions = mode == "outputs"
    ? new RunOptions { CheckFinite = false }
    : mode == "profile"
    ? new RunOptions
    {
        Taps = layerNames,
        KeepTaps = false,
        CheckFinite = false,
        OnTap = (layer, t) =>
        {
            double now = clock.Elapsed.TotalSeconds;
            byOp[layer.OpType] = byOp.GetValueOrDefault(layer.OpType) + now - lastTap;
            lastTap = now;
        },
    }
    : new RunOptions
    {
        Taps = layerNames,
        KeepTaps = false,
        CheckFinite = false,
        // The per-channel spatial mean is what a layer-wise analysis stores; keeping only it is the point.
        OnTap = (layer, t) => reduced.Add(t.dim() > 2 ? t.mean(Enumerable.Range(2, (int)t.dim() - 2).Select(d => (long)d).ToArray()) : t.alias()),
    };

var times = new List<double>();
var cpuTimes = new List<double>();
double checksum = 0;
int tappedPerRun = 0;
for (int it = 0; it < warmup + iters; it++)
{
    using var scope = torch.NewDisposeScope();
    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    var sw = Stopwatch.StartNew();
    using var im = inferenceMode ? torch.inference_mode() : null;
    if (it == warmup) byOp.Clear();
    lastTap = clock.Elapsed.TotalSeconds;
    using (var result = graph.Run(input, runOptions))
    {
        var logits = result.Outputs[graph.OutputNames[0]];
        // Reading a value forces completion of all work before the clock stops.
        checksum = logits.sum().item<float>();
    }
    sw.Stop();
    tappedPerRun = reduced.Count;
    foreach (var r in reduced) r.Dispose();
    reduced.Clear();
    if (it >= warmup)
    {
        times.Add(sw.Elapsed.TotalSeconds);
        cpuTimes.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds);
    }
}

times.Sort();
double median = times[times.Count / 2];
if (times.Count % 2 == 0) median = (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2;
var peakKb = ReadStatusKb("VmHWM");
var summary = new Dictionary<string, object>
{
    ["side"] = "layerlens",
    ["mode"] = mode,
    ["threads"] = torch.get_num_threads(),
    ["batch"] = batch,
    ["size"] = size,
    ["warmup"] = warmup,
    ["iters"] = iters,
    ["seconds"] = times,
    ["median_seconds"] = median,
    ["min_seconds"] = times[0],
    ["cpu_seconds"] = cpuTimes,
    ["images_per_second"] = batch / median,
    ["tapped_per_run"] = tappedPerRun,
    ["layers"] = layerNames.Count,
    ["peak_rss_mb"] = peakKb / 1024.0,
    ["logits_sum"] = checksum,
};
if (mode == "profile")
    summary["seconds_by_op_per_run"] = byOp.OrderByDescending(kv => kv.Value).ToDictionary(kv => kv.Key, kv => kv.Value / iters);
var text = JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true });
if (jsonPath != null)
{
    var tmp = jsonPath + ".tmp";
    File.WriteAllText(tmp, text);
    File.Move(tmp, jsonPath, overwrite: true);
}
Console.WriteLine(text);
return 0;

static long ReadStatusKb(string key)
{
    foreach (var line in File.ReadLines("/proc/self/status"))
        if (line.StartsWith(key + ":", StringComparison.Ordinal))
            return long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    return -1;
}

sealed class Args
{
    readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static Args Parse(string[] argv)
    {
        var a = new Args();
        for (int i = 0; i < argv.Length; i++)
        {
            if (!argv[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= argv.Length)
                throw new ArgumentException($"expected --name value pairs, got '{argv[i]}'");
            a._values[argv[i][2..]] = argv[++i];
        }
        return a;
    }

    public string Get(string name, string? fallback = null) =>
        _values.TryGetValue(name, out var v) ? v : fallback ?? throw new ArgumentException($"--{name} is required");

    public string? GetOrNull(string name) => _values.GetValueOrDefault(name);
}
