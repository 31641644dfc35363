using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Preprocessing;
using LayerLens.Quality.Distances;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens distance MODEL REF DIST`: deep-feature distances per layer and combined.</summary>
public static class DistanceCommand
{
    /// <summary>Repeated --pre KEY=VALUE preprocessing overrides (shared with `iqa`).</summary>
    internal static Option<string[]> Pre() => new("--pre")
    {
        Description = "Preprocessing override KEY=VALUE (keys: " + string.Join(", ", PreprocessingSpec.OptionNames) + "); repeatable. Default: the model's sidecar, else imagenet.",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>The --pre KEY=VALUE overrides as pairs, in order (lazily: a bad entry throws when it is reached).</summary>
    internal static IEnumerable<KeyValuePair<string, string>> ParsePre(string[]? pre) =>
        (pre ?? Array.Empty<string>()).Select(p =>
        {
            int eq = p.IndexOf('=');
            if (eq <= 0) throw new LayerLensException($"--pre '{p}': expected KEY=VALUE", ErrorKind.Usage);
            return new KeyValuePair<string, string>(p[..eq], p[(eq + 1)..]);
        });

    internal static ImagePreprocessor Preprocessor(string model, string[]? pre) =>
        new(PreprocessingSpec.Resolve(model, ParsePre(pre).ToList()));

    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Model file (.onnx or TF.js model.json)." };
        var reference = new Argument<string>("reference") { Description = "Reference image." };
        var distorted = new Argument<string>("distorted") { Description = "Distorted image." };
        var layers = new Option<string>("--layers") { Description = "Layers: all, names, globs, op:TYPE, depth:LO-HI.", DefaultValueFactory = _ => "op:Relu" };
        var readout = new Option<string>("--readout") { Description = "l2, lpips, stats, gram or dists.", DefaultValueFactory = _ => "lpips" };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var pre = Pre();
        var device = CommonOptions.Device();
        var cmd = new Command("distance",
            "Print the deep-feature distance between two images at every selected layer and combined over them.\n\n" +
            "Examples:\n" +
            "  layerlens distance resnet18.onnx ref.png dist.png\n" +
            "  layerlens distance resnet18.onnx ref.png dist.png --layers 'depth:0-0.5' --readout dists --json\n" +
            "  layerlens distance tiny.onnx a.png b.png --pre preset=raw --pre resize=64x64")
        { model, reference, distorted, layers, readout, json, pre, device };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var modelPath = parse.GetValue(model)!;
            var r = FeatureReadout.Parse(parse.GetValue(readout)!);
            using var graph = ModelLoader.Load(modelPath, ComputeDevice.Parse(parse.GetValue(device)!));
            var selected = LayerSelector.Parse(parse.GetValue(layers)!).Select(graph.Layers).Select(l => l.Name).ToArray();
            if (selected.Length == 0) throw new LayerLensException($"--layers '{parse.GetValue(layers)}' selects no layer of {graph.Name}", ErrorKind.Usage);
            using var pp = Preprocessor(modelPath, parse.GetValue(pre));
            var dd = new DeepDistance(graph, selected, r);
            using var refInput = pp.Apply(ImageDecoder.Decode(parse.GetValue(reference)!)).unsqueeze(0);
            using var distInput = pp.Apply(ImageDecoder.Decode(parse.GetValue(distorted)!)).unsqueeze(0);
            using var features = dd.Features(refInput);
            var result = dd.Compare(features, distInput);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    model = graph.Name, readout = r.Name,
                    layers = selected.Select((l, i) => new { layer = l, distance = result.PerLayer[i][0] }),
                    combined = result.Combined[0],
                }, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            int w = Math.Max(8, selected.Max(s => s.Length));
            foreach (var (l, i) in selected.Select((l, i) => (l, i)))
                output.WriteLine($"{l.PadRight(w)}  {result.PerLayer[i][0].ToString("0.########", CultureInfo.InvariantCulture)}");
            output.WriteLine($"{"combined".PadRight(w)}  {result.Combined[0].ToString("0.########", CultureInfo.InvariantCulture)}");
            return 0;
        }));
        return cmd;
    }
}
