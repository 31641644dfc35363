using Google.Protobuf;
using LayerLens.Models.Engine;
using LayerLens.Models.Onnx.Proto;
using static TorchSharp.torch;

namespace LayerLens.Models.Onnx;

/// <summary>Writes an imported ONNX model back to a self-contained file, with its current weights and an optional new head.</summary>
public static class OnnxExporter
{
    public const string HeadOutput = "layerlens_head";
    public const string ProbabilitiesOutput = "layerlens_probabilities";

    /// <summary>
    /// Saves <paramref name="graph"/> as ONNX: every initializer (and Constant node) with the value the graph holds now;
    /// with a head, the graph ends in <c>Gemm(features, weight, bias)</c> on <paramref name="featureLayer"/> (feature maps are
    /// averaged over space first) and nodes the head does not need are dropped. TensorFlow.js graphs are translated to ONNX
    /// by <see cref="TfJs.TfJsOnnxEmitter"/>.
    /// </summary>
    public static void Save(ModelGraph graph, string path, string? featureLayer = null, Tensor? headWeight = null, Tensor? headBias = null,
        int featureRank = 2, bool probabilities = false)
    {
        if (graph.Format == "tfjs" && graph.Source is System.Text.Json.JsonElement)
        {
            TfJs.TfJsOnnxEmitter.Save(graph, path, featureLayer, headWeight, headBias, featureRank, probabilities);
            return;
        }
        if (graph.Source is not ModelProto source)
            throw new LayerLensException($"model '{graph.Name}' was not imported from ONNX, so it cannot be saved as ONNX", ErrorKind.BadInput);
        var model = source.Clone();
        var g = model.Graph;

        // Constant nodes become initializers so that a changed value is written once, as data.
        foreach (var node in g.Node.Where(n => n.OpType == "Constant" && n.Output.Count == 1 && graph.Constants.ContainsKey(n.Output[0])).ToList())
        {
            g.Node.Remove(node);
            g.Initializer.Add(new TensorProto { Name = node.Output[0] });
        }
        for (int i = 0; i < g.Initializer.Count; i++)
        {
            var name = g.Initializer[i].Name;
            if (graph.Constants.TryGetValue(name, out var value))
                g.Initializer[i] = OnnxTensors.FromTensor(value, name);
        }

        if (featureLayer != null && headWeight is not null && headBias is not null)
        {
            var features = featureLayer;
            if (featureRank > 2)
            {
                g.Node.Add(Node("GlobalAveragePool", new[] { features }, "layerlens_head_pool"));
                g.Node.Add(Node("Flatten", new[] { "layerlens_head_pool" }, "layerlens_head_features", ("axis", 1)));
                features = "layerlens_head_features";
            }
            AppendHead(g, features, headWeight, headBias, probabilities);
        }
        var tmp = path + ".tmp-" + Environment.ProcessId;
        using (var fs = File.Create(tmp)) model.WriteTo(fs);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// Ends <paramref name="g"/> in the linear head on <paramref name="features"/> ([N, F]): the float32 initializers
    /// <c>layerlens_head.weight</c> and <c>.bias</c>, <c>Gemm(features, weight, bias, transB=1)</c> as the only output
    /// (<see cref="HeadOutput"/>), optionally a Softmax over it (<see cref="ProbabilitiesOutput"/>); then drops what the
    /// outputs do not need. Shared by the ONNX exporter and the TF.js → ONNX emitter.
    /// </summary>
    internal static void AppendHead(GraphProto g, string features, Tensor weight, Tensor bias, bool probabilities)
    {
        using (var w = weight.to_type(ScalarType.Float32)) g.Initializer.Add(OnnxTensors.FromTensor(w, "layerlens_head.weight"));
        using (var b = bias.to_type(ScalarType.Float32)) g.Initializer.Add(OnnxTensors.FromTensor(b, "layerlens_head.bias"));
        g.Node.Add(Node("Gemm", new[] { features, "layerlens_head.weight", "layerlens_head.bias" }, HeadOutput, ("transB", 1)));
        g.Output.Clear();
        g.Output.Add(Output(HeadOutput, weight.shape[0]));
        if (probabilities)
        {
            g.Node.Add(Node("Softmax", new[] { HeadOutput }, ProbabilitiesOutput, ("axis", 1)));
            g.Output.Add(Output(ProbabilitiesOutput, weight.shape[0]));
        }
        Prune(g);
    }

    static NodeProto Node(string op, string[] inputs, string output, params (string Name, long Value)[] ints)
    {
        var n = new NodeProto { OpType = op, Name = output };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        foreach (var (name, value) in ints)
            n.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });
        return n;
    }

    static ValueInfoProto Output(string name, long width)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = width });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    /// <summary>Drops nodes, initializers and value infos the outputs do not depend on.</summary>
    internal static void Prune(GraphProto g)
    {
        var needed = new HashSet<string>(g.Output.Select(o => o.Name), StringComparer.Ordinal);
        var keep = new List<NodeProto>();
        for (int i = g.Node.Count - 1; i >= 0; i--)
        {
            var n = g.Node[i];
            if (!n.Output.Any(needed.Contains)) continue;
            keep.Add(n);
            foreach (var input in n.Input) if (input.Length > 0) needed.Add(input);
        }
        keep.Reverse();
        g.Node.Clear();
        g.Node.AddRange(keep);
        var inits = g.Initializer.Where(t => needed.Contains(t.Name)).ToList();
        g.Initializer.Clear();
        g.Initializer.AddRange(inits);
        var infos = g.ValueInfo.Where(v => needed.Contains(v.Name)).ToList();
        g.ValueInfo.Clear();
        g.ValueInfo.AddRange(infos);
    }
}
