// SSIM throughput of LayerLens on the pairs written by bench/quality/make_pairs.py: one pair at a time (as
// scikit-image runs) and in batches of 8 pairs; prints one JSON line. Usage: SsimBench DIR N [float32|float64] [THREADS]
using System.Diagnostics;
using System.Text.Json;
using LayerLens.IO;
using LayerLens.Native;
using LayerLens.Quality.Metrics;
using static TorchSharp.torch;

var dir = args[0];
int n = int.Parse(args[1]);
bool doublePrecision = args.Length < 3 || args[2] != "float32";
TorchRuntime.EnsureLoaded();
if (args.Length > 3) set_num_threads(int.Parse(args[3]));
var refs = new List<Tensor>();
var dists = new List<Tensor>();
for (int k = 0; k < n; k++)
{
    using var r = Npy.Read(Path.Combine(dir, $"pair_{k}_ref.npy"));
    using var d = Npy.Read(Path.Combine(dir, $"pair_{k}_dist.npy"));
    refs.Add(r.permute(2, 0, 1).contiguous());
    dists.Add(d.permute(2, 0, 1).contiguous());
}
var options = new SsimOptions { DoublePrecision = doublePrecision };
Ssim.Value(refs[0], dists[0], options); // warm-up: first call loads kernels
var values = new double[n];
var sw = Stopwatch.StartNew();
for (int k = 0; k < n; k++) values[k] = Ssim.Value(refs[k], dists[k], options);
double single = sw.Elapsed.TotalSeconds;
sw.Restart();
for (int k = 0; k < n; k += 8)
{
    using var scope = NewDisposeScope();
    int m = Math.Min(8, n - k);
    var a = stack(refs.Skip(k).Take(m).ToArray());
    var b = stack(dists.Skip(k).Take(m).ToArray());
    Ssim.Compute(a, b, options).data<double>().ToArray();
}
double batched = sw.Elapsed.TotalSeconds;
Console.WriteLine(JsonSerializer.Serialize(new
{
    tool = "LayerLens", precision = doublePrecision ? "float64" : "float32", pairs = n, threads = get_num_threads(),
    seconds = single, pairs_per_second = n / single, batched_pairs_per_second = n / batched, ssim = values,
}));
