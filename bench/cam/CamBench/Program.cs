// Grad-CAM maps per second of LayerLens's CamEngine on a ResNet-18 ONNX graph (bench/cam/run.sh); prints one JSON line.
// Usage: CamBench MODEL.onnx INPUT.npy THREADS WARMUP ITERS [MAPS_OUT.npy]
using System.Diagnostics;
using System.Text.Json;
using LayerLens.Explain;
using LayerLens.Explain.Cam;
using LayerLens.IO;
using LayerLens.Models;
using static TorchSharp.torch;

var (model, inputPath, threads, warmup, iters) = (args[0], args[1], int.Parse(args[2]), int.Parse(args[3]), int.Parse(args[4]));
LayerLens.Native.TorchRuntime.EnsureLoaded();
set_num_threads(threads);
using var graph = ModelLoader.Load(model);
using var x = Npy.Read(inputPath);
// layer4's output: the input of the global average pool.
var layer = graph.Nodes.First(n => n.OpType == "GlobalAveragePool").Inputs[0];
var engine = new CamEngine(graph);
var request = new CamRequest(new[] { CamMethod.GradCam }, new[] { layer }, CamTarget.Top1);
var times = new List<double>();
var cpu = new List<double>();
CamBatchResult? result = null;
var proc = Process.GetCurrentProcess();
for (int it = 0; it < warmup + iters; it++)
{
    proc.Refresh();
    var c0 = proc.TotalProcessorTime;
    var sw = Stopwatch.StartNew();
    result = engine.Compute(x, request);
    var elapsed = sw.Elapsed.TotalSeconds;
    proc.Refresh();
    if (it >= warmup) { times.Add(elapsed); cpu.Add((proc.TotalProcessorTime - c0).TotalSeconds); }
}
if (args.Length > 5)
{
    using var maps = tensor(result!.Maps[CamMethod.GradCam].SelectMany(m => m).ToArray()).reshape(x.shape[0], result.Height, result.Width);
    Npy.Write(args[5], maps);
}
var median = times.OrderBy(t => t).ElementAt(times.Count / 2);
proc.Refresh();
Console.WriteLine(JsonSerializer.Serialize(new
{
    side = "layerlens", threads = get_num_threads(), batch = x.shape[0], size = x.shape[2], layer, seconds = times, cpu_seconds = cpu,
    maps_per_second = x.shape[0] / median, classes = result!.TargetClass, peak_rss_mb = proc.PeakWorkingSet64 / 1048576.0,
}));
