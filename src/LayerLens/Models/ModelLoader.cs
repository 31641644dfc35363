using LayerLens.Models.Engine;
using LayerLens.Models.Onnx;
using LayerLens.Models.TfJs;

namespace LayerLens.Models;

/// <summary>Opens a model from a path, choosing the importer by its format.</summary>
public static class ModelLoader
{
    /// <summary>Loads <paramref name="spec"/>: an .onnx file, or a TensorFlow.js graph model (a model.json, any .json
    /// graph-model file, or a folder holding model.json), or zoo:NAME (fetched into the cache on first use).</summary>
    public static ModelGraph Load(string spec, ComputeDevice? device = null)
    {
        Native.TorchRuntime.EnsureLoaded();
        ModelGraph graph;
        if (spec.StartsWith("zoo:", StringComparison.Ordinal))
            spec = Zoo.ModelZoo.Default().Resolve(spec["zoo:".Length..]);
        if (spec.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            graph = OnnxImporter.Load(spec);
        else if (TfJsImporter.Recognises(spec))
            graph = TfJsImporter.Load(spec);
        else if (!File.Exists(spec) && !Directory.Exists(spec))
            throw new LayerLensException($"{spec}: model file not found", ErrorKind.BadInput);
        else
            graph = OnnxImporter.Load(spec); // unknown extension: try ONNX, whose loader explains a mismatch
        if (device is { } d && d.Kind != DeviceKind.Cpu) graph.To(d);
        return graph;
    }
}
