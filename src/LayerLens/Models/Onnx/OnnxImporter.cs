using Google.Protobuf;
using LayerLens.Models.Engine;
using LayerLens.Models.Onnx.Ops;
using LayerLens.Models.Onnx.Proto;
using static TorchSharp.torch;

namespace LayerLens.Models.Onnx;

/// <summary>Loads an ONNX model file into a <see cref="ModelGraph"/>, checking every op when the file is read.</summary>
public static class OnnxImporter
{
    public const int MinOpset = 7;
    public const int MaxOpset = 21;

    public static ModelGraph Load(string path)
    {
        if (!File.Exists(path))
            throw new LayerLensException($"{path}: model file not found", ErrorKind.BadInput);
        ModelProto model;
        try
        {
            using var fs = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(fs);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new LayerLensException($"{path}: not a readable ONNX model (protobuf: {ModelGraph.FirstLine(e.Message)}); the file may be truncated or of another format", ErrorKind.BadInput, e);
        }
        if (model.Graph == null || model.IrVersion <= 0 || model.Graph.Node.Count == 0)
            throw new LayerLensException($"{path}: not an ONNX model (no graph or IR version found)", ErrorKind.BadInput);
        return Build(model, Path.GetFileNameWithoutExtension(path), Path.GetDirectoryName(Path.GetFullPath(path)), path);
    }

    public static ModelGraph Build(ModelProto model, string name, string? baseDir, string context)
    {
        var graph = model.Graph;
        int opset = 0;
        foreach (var imp in model.OpsetImport)
        {
            if (imp.Domain is "" or "ai.onnx") opset = (int)imp.Version;
            else if (graph.Node.Any(n => n.Domain == imp.Domain))
                throw new LayerLensException($"{context}: operator domain '{imp.Domain}' is not supported (only the default ONNX domain)", ErrorKind.BadInput);
        }
        if (opset == 0) opset = MaxOpset;
        if (opset < MinOpset || opset > MaxOpset)
            throw new LayerLensException($"{context}: opset {opset} is not supported (LayerLens reads opsets {MinOpset}-{MaxOpset})", ErrorKind.BadInput);

        var constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var nodes = new List<GraphNode>();
        try
        {
            foreach (var init in graph.Initializer)
                constants[init.Name] = OnnxTensors.ToTensor(init, baseDir, $"{context}: initializer '{init.Name}'");

            var inputs = new List<GraphInputInfo>();
            foreach (var vi in graph.Input)
            {
                if (constants.ContainsKey(vi.Name)) continue; // IR < 4 lists initializers as inputs
                inputs.Add(ToInputInfo(vi, context));
            }

            int index = 0;
            foreach (var np in graph.Node)
            {
                if (np.Domain is not ("" or "ai.onnx"))
                    throw new LayerLensException($"{context}: unsupported: node '{np.Name}' ({np.Domain}.{np.OpType}): operator domain '{np.Domain}' is not supported", ErrorKind.BadInput);
                var ctx = new OnnxNodeContext(np, opset, baseDir);
                if (!OnnxOpRegistry.TryGet(np.OpType, out var factory))
                    throw new LayerLensException($"{context}: unsupported: {ctx.Describe}: operator '{np.OpType}' is not implemented", ErrorKind.BadInput);
                Kernel kernel;
                try
                {
                    kernel = factory(ctx);
                    ctx.CheckAllRead();
                }
                catch (LayerLensException e) when (e.Kind == ErrorKind.BadInput && !e.Message.StartsWith(context, StringComparison.Ordinal))
                {
                    // The node's own message names op, node and opset; the file is added here.
                    throw new LayerLensException($"{context}: {e.Message}", e.Kind, e);
                }
                var nodeName = np.Name.Length > 0 ? np.Name : $"{np.OpType}_{index}";
                nodes.Add(new GraphNode(nodeName, np.OpType, np.Input, np.Output, kernel)
                {
                    Describe = ctx.Describe,
                    Foldable = !OnnxOpRegistry.IsNondeterministic(np.OpType),
                });
                index++;
            }
            var outputs = graph.Output.Select(o => o.Name).ToList();
            var metadata = model.MetadataProps.ToDictionary(kv => kv.Key, kv => kv.Value);
            metadata["producer"] = $"{model.ProducerName} {model.ProducerVersion}".Trim();
            metadata["opset"] = opset.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return new ModelGraph(name, "onnx", inputs, outputs, constants, nodes, metadata) { Source = model };
        }
        catch
        {
            foreach (var t in constants.Values) t.Dispose();
            throw;
        }
    }

    static GraphInputInfo ToInputInfo(ValueInfoProto vi, string context)
    {
        var tt = vi.Type?.TensorType;
        if (tt == null)
            throw new LayerLensException($"{context}: input '{vi.Name}' is not a tensor; sequence, map and optional inputs are not supported", ErrorKind.BadInput);
        string? symbolic = null;
        var dims = tt.Shape?.Dim.Select((d, i) =>
        {
            if (d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0) return d.DimValue;
            if (i == 0 && d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam) symbolic = d.DimParam;
            return -1L;
        }).ToArray() ?? Array.Empty<long>();
        return new GraphInputInfo(vi.Name, dims, OnnxTensors.ElementTypeName(tt.ElemType, $"{context}: input '{vi.Name}'"), symbolic);
    }
}
