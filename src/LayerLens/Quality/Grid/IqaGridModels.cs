using System.Text.Json;
using LayerLens.Models;
using LayerLens.Models.Engine;
using LayerLens.Preprocessing;
using LayerLens.Zoo;

namespace LayerLens.Quality.Grid;

/// <summary>How the grid opens a model: its preprocessing (zoo recipes translated), its graph, its channel weights.</summary>
internal static class IqaGridModels
{
    /// <summary>The preprocessing of a grid model: a zoo entry's recipe, else the sidecar or <paramref name="fallbackPreset"/>; overrides on top.</summary>
    public static PreprocessingSpec Preprocessing(string model, IReadOnlyDictionary<string, string>? overrides, string fallbackPreset = "imagenet") =>
        PreprocessingSpec.Resolve(model, overrides?.ToList(), PreprocessingSpec.FromPreset(fallbackPreset), $"preprocessing of {model}");

    /// <summary>What identifies a model file's content cheaply: path, size and modification time (zoo: the name).</summary>
    public static string Identity(string model)
    {
        if (model.StartsWith("zoo:", StringComparison.Ordinal)) return model;
        if (File.Exists(model)) { var f = new FileInfo(model); return $"{f.FullName}|{f.Length}|{f.LastWriteTimeUtc.Ticks}"; }
        if (Directory.Exists(model) && File.Exists(Path.Combine(model, "model.json")))
        {
            var f = new FileInfo(Path.Combine(model, "model.json"));
            return $"{f.FullName}|{f.Length}|{f.LastWriteTimeUtc.Ticks}";
        }
        return Path.GetFullPath(model);
    }

    public static IReadOnlyList<string> SelectLayers(ModelGraph graph, string selector, string label)
    {
        var layers = LayerSelector.Parse(selector).Select(graph.Layers).Select(l => l.Name).ToArray();
        return layers.Length > 0 ? layers
            : throw new LayerLensException($"model '{label}': layers '{selector}' select no layer of {graph.Name}", ErrorKind.Usage);
    }

    /// <summary>Channel weights: {"layers": {"LAYER": [w, ...]}} or the bare map, layers in file order.</summary>
    public static (IReadOnlyList<string> Layers, Dictionary<string, double[]> Weights) ReadWeights(string path)
    {
        if (!File.Exists(path)) throw new LayerLensException($"{path}: channel-weights file not found", ErrorKind.BadInput);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new LayerLensException($"{path}:{(e.LineNumber ?? 0) + 1}: not valid JSON ({e.Message.Split('\n')[0]})", ErrorKind.BadInput, e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("layers", out var l) && l.ValueKind == JsonValueKind.Object) root = l;
            if (root.ValueKind != JsonValueKind.Object)
                throw new LayerLensException($"{path}: expected an object mapping layer names to weight lists", ErrorKind.BadInput);
            var layers = new List<string>();
            var weights = new Dictionary<string, double[]>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Array || p.Value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number))
                    throw new LayerLensException($"{path}: weights of layer '{p.Name}' must be a list of numbers", ErrorKind.BadInput);
                layers.Add(p.Name);
                weights[p.Name] = p.Value.EnumerateArray().Select(v => v.GetDouble()).ToArray();
            }
            if (layers.Count == 0) throw new LayerLensException($"{path}: no layer weights", ErrorKind.BadInput);
            return (layers, weights);
        }
    }
}
