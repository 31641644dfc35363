using System.Text.Json;
using LayerLens.Models.Engine;
using LayerLens.Models.TfJs.Ops;
using static TorchSharp.torch;

namespace LayerLens.Models.TfJs;

/// <summary>
/// Loads a TensorFlow.js graph model (model.json with its topology and weights manifest, plus .bin shards) into a
/// <see cref="ModelGraph"/>. Values keep TensorFlow's layout (NHWC for image models), so every layer reports the
/// shape the model declares; convolutions and pools switch to libtorch's NCHW inside their kernels.
/// Value names follow TensorFlow: a node's first output is the node name, further outputs are "name:k".
/// </summary>
public static class TfJsImporter
{
    /// <summary>Whether <paramref name="path"/> names a TF.js graph model: a .json file or a folder holding model.json.</summary>
    public static bool Recognises(string path) =>
        path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && File.Exists(path)
        || Directory.Exists(path) && File.Exists(Path.Combine(path, "model.json"));

    public static ModelGraph Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "model.json");
        if (!File.Exists(path))
            throw new LayerLensException($"{path}: model file not found", ErrorKind.BadInput);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new LayerLensException($"{path}: not valid JSON (line {e.LineNumber + 1}: {ModelGraph.FirstLine(e.Message)})", ErrorKind.BadInput, e);
        }
        using (doc)
        {
            var name = Path.GetFileNameWithoutExtension(path);
            if (name == "model") name = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? name;
            return Build(doc.RootElement, name, Path.GetDirectoryName(Path.GetFullPath(path))!, path);
        }
    }

    public static ModelGraph Build(JsonElement root, string name, string baseDir, string context)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("modelTopology", out var topology))
            throw new LayerLensException($"{context}: not a TensorFlow.js model (no modelTopology)", ErrorKind.BadInput);
        var format = root.TryGetProperty("format", out var f) ? f.GetString() ?? "" : "";
        if (format == "layers-model" || topology.TryGetProperty("model_config", out _) || topology.TryGetProperty("class_name", out _))
            throw new LayerLensException($"{context}: a TensorFlow.js layers model (Keras); only graph models are supported — convert it with tensorflowjs_converter --output_format tfjs_graph_model", ErrorKind.BadInput);
        if (!topology.TryGetProperty("node", out var nodeArray) || nodeArray.ValueKind != JsonValueKind.Array)
            throw new LayerLensException($"{context}: modelTopology has no node list", ErrorKind.BadInput);
        if (topology.TryGetProperty("library", out var lib) && lib.TryGetProperty("function", out var fns) && fns.GetArrayLength() > 0)
            throw new LayerLensException($"{context}: graph functions (control flow) are not supported", ErrorKind.BadInput);
        if (!root.TryGetProperty("weightsManifest", out var manifest))
            throw new LayerLensException($"{context}: no weightsManifest", ErrorKind.BadInput);

        var constants = TfJsWeights.Load(manifest, baseDir, context);
        try
        {
            var inputs = new List<GraphInputInfo>();
            var nodes = new List<GraphNode>();
            var prepared = new Dictionary<string, string>(StringComparer.Ordinal);
            var declared = new HashSet<string>(StringComparer.Ordinal);
            var consumed = new HashSet<string>(StringComparer.Ordinal);
            var order = new List<string>();

            foreach (var n in nodeArray.EnumerateArray())
            {
                var nodeName = n.GetProperty("name").GetString() ?? "";
                var op = n.GetProperty("op").GetString() ?? "";
                var attrs = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                if (n.TryGetProperty("attr", out var attrObj))
                    foreach (var a in attrObj.EnumerateObject()) attrs[a.Name] = a.Value;
                var nodeInputs = n.TryGetProperty("input", out var inArr)
                    ? inArr.EnumerateArray().Select(e => e.GetString() ?? "").Where(s => !s.StartsWith('^')).Select(ValueName).ToList()
                    : new List<string>();
                foreach (var i in nodeInputs) consumed.Add(i);

                switch (op)
                {
                    case "Const":
                        if (!constants.ContainsKey(nodeName))
                            throw new LayerLensException($"{context}: node '{nodeName}' (Const) has no entry in the weights manifest", ErrorKind.BadInput);
                        continue;
                    case "Placeholder":
                    case "PlaceholderWithDefault" when nodeInputs.Count == 0:
                        inputs.Add(InputInfo(nodeName, attrs, context));
                        declared.Add(nodeName);
                        continue;
                }

                var ctx = new TfJsNodeContext(nodeName, op, nodeInputs.Count, attrs);
                if (!TfJsOpRegistry.TryGet(op, out var factory))
                    throw new LayerLensException($"unsupported: {context}: node '{nodeName}' uses op '{op}', which the TensorFlow.js importer does not implement", ErrorKind.BadInput);
                var kernel = factory(ctx);
                ctx.CheckAllRead();
                // Layout conversions of weights become their own nodes so the engine folds them once at load.
                foreach (var (index, suffix, transform) in ctx.Preparations)
                {
                    var source = nodeInputs[index];
                    var key = source + "/" + suffix;
                    if (!prepared.ContainsKey(key))
                    {
                        prepared[key] = key;
                        nodes.Add(new GraphNode(key, "TfLayout", new[] { source }, new[] { key }, a => new[] { transform(a[0]!) })
                        {
                            Describe = $"node '{key}' (layout of {source} for {ctx.Describe})",
                        });
                    }
                    nodeInputs[index] = key;
                }
                var outputs = Enumerable.Range(0, ctx.OutputCount).Select(k => k == 0 ? nodeName : $"{nodeName}:{k}").ToArray();
                nodes.Add(new GraphNode(nodeName, op, nodeInputs, outputs, kernel) { Describe = ctx.Describe });
                foreach (var o in outputs) declared.Add(o);
                order.Add(nodeName);
            }

            foreach (var c in consumed)
                if (!declared.Contains(c) && !constants.ContainsKey(c))
                    throw new LayerLensException($"{context}: value '{c}' is read but no node produces it", ErrorKind.BadInput);

            var graphOutputs = SignatureOutputs(root) ?? order.Where(o => !consumed.Contains(o)).ToList();
            foreach (var o in graphOutputs)
                if (!declared.Contains(o) && !constants.ContainsKey(o))
                    throw new LayerLensException($"{context}: signature output '{o}' is not a node of the graph", ErrorKind.BadInput);

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var key in new[] { "format", "generatedBy", "convertedBy" })
                if (root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String) metadata[key] = v.GetString()!;
            // TensorFlow image models are NHWC unless their single image input is declared channels-first.
            var image = inputs.FirstOrDefault(i => i.Shape.Length == 4);
            if (image != null)
                metadata["layout"] = image.Shape[1] is > 0 and <= 4 && !(image.Shape[3] is > 0 and <= 4) ? "NCHW" : "NHWC";
            // The parsed model.json is kept (like ONNX keeps its ModelProto) so a changed model can be written as ONNX.
            return new ModelGraph(name, "tfjs", inputs, graphOutputs, constants, nodes, metadata) { Source = root.Clone() };
        }
        catch
        {
            foreach (var t in constants.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>"node:0" and "node" are the same value; "node:k" is output k.</summary>
    internal static string ValueName(string reference)
    {
        int colon = reference.LastIndexOf(':');
        if (colon > 0 && int.TryParse(reference.AsSpan(colon + 1), out int k))
            return k == 0 ? reference[..colon] : reference;
        return reference;
    }

    static List<string>? SignatureOutputs(JsonElement root)
    {
        if (!root.TryGetProperty("signature", out var sig) || sig.ValueKind != JsonValueKind.Object
            || !sig.TryGetProperty("outputs", out var outs) || outs.ValueKind != JsonValueKind.Object)
            return null;
        var list = new List<string>();
        foreach (var o in outs.EnumerateObject())
            list.Add(ValueName(o.Value.TryGetProperty("name", out var n) ? n.GetString() ?? o.Name : o.Name));
        return list.Count > 0 ? list : null;
    }

    static GraphInputInfo InputInfo(string name, Dictionary<string, JsonElement> attrs, string context)
    {
        long[] shape = Array.Empty<long>();
        if (attrs.TryGetValue("shape", out var s) && s.TryGetProperty("shape", out var ts))
        {
            if (ts.TryGetProperty("unknownRank", out var ur) && ur.GetBoolean())
                throw new LayerLensException($"{context}: input '{name}' has unknown rank", ErrorKind.BadInput);
            if (ts.TryGetProperty("dim", out var dims))
                shape = dims.EnumerateArray().Select(d => d.TryGetProperty("size", out var sz) ? long.Parse(sz.GetString() ?? sz.GetRawText(), System.Globalization.CultureInfo.InvariantCulture) : -1L)
                            .Select(d => d < 0 ? -1 : d).ToArray();
        }
        var dtype = attrs.TryGetValue("dtype", out var dt) && dt.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "DT_FLOAT";
        return new GraphInputInfo(name, shape, ElementTypeName(dtype, $"{context}: input '{name}'"), shape.Length > 0 && shape[0] < 0 ? "batch" : null);
    }

    /// <summary>TensorFlow's DT_* names as NumPy spells them.</summary>
    public static string ElementTypeName(string dtype, string context) => dtype switch
    {
        "DT_FLOAT" => "float32",
        "DT_INT32" => "int32",
        "DT_INT64" => "int32", // TensorFlow.js has no int64 and runs such tensors as int32
        "DT_BOOL" => "bool",
        "DT_HALF" => "float16",
        _ => throw new LayerLensException($"{context}: element type {dtype} is not supported", ErrorKind.BadInput),
    };

    internal static ScalarType ScalarTypeOf(string dtype, string context) => ElementTypes.ToScalarType(ElementTypeName(dtype, context));
}
