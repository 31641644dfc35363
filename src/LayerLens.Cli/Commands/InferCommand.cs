using System.CommandLine;
using System.Text.Json;
using System.Text.RegularExpressions;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Models.Engine;
using static TorchSharp.torch;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens infer MODEL --input X.npy --out DIR`: outputs and tapped layers as .npy files.</summary>
public static class InferCommand
{
    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Model file (.onnx)." };
        var input = new Option<string[]>("--input", "-i")
        {
            Description = "Input array (.npy, float32, preprocessed, in the model's layout); NAME=FILE.npy for models with several inputs.",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for the .npy files and index.json.", Required = true };
        var layers = new Option<string?>("--layers") { Description = "Layers to save as well: all, names, globs, op:TYPE (comma-separated)." };
        var device = CommonOptions.Device();
        var cmd = new Command("infer",
            "Run a model on a NumPy array and save every output and the selected layers as .npy files.\n\n" +
            "Examples:\n" +
            "  layerlens infer resnet18.onnx --input batch.npy --out acts\n" +
            "  layerlens infer resnet18.onnx --input batch.npy --layers 'op:Relu,/layer4/*' --out acts\n" +
            "  layerlens infer two_inputs.onnx --input image=img.npy --input mask=mask.npy --out acts")
        { model, input, outDir, layers, device };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            using var graph = ModelLoader.Load(parse.GetValue(model)!, ComputeDevice.Parse(parse.GetValue(device)!));
            var feeds = ReadInputs(graph, parse.GetValue(input)!);
            try
            {
                var selected = parse.GetValue(layers) is { } sel ? LayerSelector.Parse(sel).Select(graph.Layers) : Array.Empty<LayerInfo>();
                var dir = parse.GetValue(outDir)!;
                Directory.CreateDirectory(dir);
                using var result = graph.Run(feeds, new RunOptions { Taps = selected.Select(l => l.Name).ToList() });
                var outputsIndex = new Dictionary<string, string>();
                var layersIndex = new Dictionary<string, string>();
                int k = 0;
                foreach (var (name, t) in result.Outputs)
                {
                    var file = $"output_{k++:D2}_{Safe(name)}.npy";
                    Npy.Write(Path.Combine(dir, file), t);
                    outputsIndex[name] = file;
                }
                foreach (var l in selected)
                {
                    var file = $"layer_{l.Index:D4}_{Safe(l.Name)}.npy";
                    Npy.Write(Path.Combine(dir, file), result.Taps[l.Name]);
                    layersIndex[l.Name] = file;
                }
                var index = new { model = graph.Name, outputs = outputsIndex, layers = layersIndex };
                var indexPath = Path.Combine(dir, "index.json");
                File.WriteAllText(indexPath + ".tmp", JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true }));
                File.Move(indexPath + ".tmp", indexPath, overwrite: true);
                parse.InvocationConfiguration.Output.WriteLine($"wrote {outputsIndex.Count} outputs and {layersIndex.Count} layers to {dir}");
                return 0;
            }
            finally
            {
                foreach (var t in feeds.Values) t.Dispose();
            }
        }));
        return cmd;
    }

    static Dictionary<string, Tensor> ReadInputs(ModelGraph graph, string[] specs)
    {
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var spec in specs)
            {
                string name, file;
                int eq = spec.IndexOf('=');
                if (eq > 0 && !File.Exists(spec)) { name = spec[..eq]; file = spec[(eq + 1)..]; }
                else
                {
                    if (graph.Inputs.Count != 1)
                        throw new LayerLensException($"model has inputs {string.Join(", ", graph.Inputs.Select(i => i.Name))}; give --input NAME=FILE.npy for each", ErrorKind.Usage);
                    name = graph.Inputs[0].Name;
                    file = spec;
                }
                if (feeds.ContainsKey(name)) throw new LayerLensException($"input '{name}' is given twice", ErrorKind.Usage);
                feeds[name] = Npy.Read(file);
            }
            return feeds;
        }
        catch
        {
            foreach (var t in feeds.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>A file-name-safe form of a layer name (names may hold '/', ':' and the like).</summary>
    public static string Safe(string name)
    {
        var s = Regex.Replace(name, "[^A-Za-z0-9._-]+", "_").Trim('_');
        return s.Length == 0 ? "value" : s.Length > 80 ? s[..80] : s;
    }
}
