// Deep-distance throughput of LayerLens on the pairs written by bench/quality/deep_distance_torch.py prepare:
// the LPIPS readout (unit-normalised channels, squared difference, spatial mean, channel sum; float64) over
// 5 layers of the ResNet-18 graph, summed over layers; each reference through the network once, its distorted
// images in batches. Prints one JSON line. Usage: DeepBench DIR THREADS BATCH
using System.Diagnostics;
using System.Text.Json;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Native;
using LayerLens.Preprocessing;
using LayerLens.Quality.Distances;
using static TorchSharp.torch;

var dir = args[0];
int threads = int.Parse(args[1]);
int batch = int.Parse(args[2]);
TorchRuntime.EnsureLoaded();
set_num_threads(threads);
string[] layers =
{
    "/relu/Relu_output_0", "/layer1/layer1.1/relu_1/Relu_output_0", "/layer2/layer2.1/relu_1/Relu_output_0",
    "/layer3/layer3.1/relu_1/Relu_output_0", "/layer4/layer4.1/relu_1/Relu_output_0",
};
using var graph = ModelLoader.Load(Path.Combine(dir, "resnet18.onnx"));
var dd = new DeepDistance(graph, layers, new LpipsReadout());
using var pp = new ImagePreprocessor(PreprocessingSpec.FromPreset("raw") with
{
    Mean = new[] { 0.485f, 0.456f, 0.406f }, Std = new[] { 0.229f, 0.224f, 0.225f },
});
static int Index(string path) => int.Parse(Path.GetFileNameWithoutExtension(path).Split('_')[^1]);
Tensor Unit(string path)
{
    using var u8 = Npy.Read(path);
    return u8.permute(2, 0, 1).to_type(ScalarType.Float32) / 255;
}
var groups = Directory.GetFiles(dir, "ref_*.npy").OrderBy(Index).Select(r =>
{
    int k = Index(r);
    return (Ref: Unit(r), Dists: Directory.GetFiles(dir, $"dist_{k}_*.npy").OrderBy(Index).Select(Unit).ToArray());
}).ToArray();
int pairs = groups.Sum(g => g.Dists.Length);

Tensor Input(IEnumerable<Tensor> images) => stack(images.Select(i => pp.ApplyToUnitTensor(i)).ToArray());
using (var scope = NewDisposeScope()) // warm-up, as on the PyTorch side
{
    using var f = dd.Features(Input(new[] { groups[0].Ref }));
    dd.Compare(f, Input(groups[0].Dists.Take(batch)));
}
var values = new List<double>();
var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
var sw = Stopwatch.StartNew();
foreach (var (reference, dists) in groups)
{
    using var scope = NewDisposeScope();
    using var features = dd.Features(Input(new[] { reference }));
    foreach (var chunk in dists.Chunk(batch))
    {
        using var inner = NewDisposeScope();
        values.AddRange(dd.Compare(features, Input(chunk)).Combined);
    }
}
double seconds = sw.Elapsed.TotalSeconds;
double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
Console.WriteLine(JsonSerializer.Serialize(new
{
    side = "layerlens", threads = get_num_threads(), batch, pairs, seconds, cpu_seconds = cpu,
    pairs_per_second = pairs / seconds, distances = values,
}));
