using LayerLens.Models.Onnx.Proto;
using static TorchSharp.torch;
using AttrType = LayerLens.Models.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace LayerLens.Models.Onnx;

/// <summary>
/// What an op factory sees of one node: its attributes, opset and arity. Every attribute must be read
/// (or explicitly ignored) by the factory; one left unread is reported as unsupported at load time.
/// </summary>
public sealed class OnnxNodeContext
{
    readonly Dictionary<string, AttributeProto> _attrs;
    readonly HashSet<string> _read = new(StringComparer.Ordinal);
    readonly string? _baseDir;

    internal OnnxNodeContext(NodeProto node, int opset, string? baseDir)
    {
        Node = node;
        Opset = opset;
        _baseDir = baseDir;
        _attrs = new Dictionary<string, AttributeProto>(StringComparer.Ordinal);
        foreach (var a in node.Attribute) _attrs[a.Name] = a;
    }

    public NodeProto Node { get; }
    public int Opset { get; }
    public string OpType => Node.OpType;
    public string Name => Node.Name;
    public int InputCount => Node.Input.Count;
    public int OutputCount => Node.Output.Count;

    /// <summary>Whether the node uses optional output <paramref name="i"/>.</summary>
    public bool HasOutput(int i) => i < Node.Output.Count && Node.Output[i].Length > 0;
    public bool HasInput(int i) => i < Node.Input.Count && Node.Input[i].Length > 0;

    public string Describe => $"node '{(Node.Name.Length > 0 ? Node.Name : Node.Output.FirstOrDefault() ?? "?")}' ({Node.OpType}, opset {Opset})";

    public LayerLensException Unsupported(string what) =>
        new($"unsupported: {Describe}: {what}", ErrorKind.BadInput);

    public bool Has(string name) => _attrs.ContainsKey(name);

    public void Ignore(params string[] names)
    {
        foreach (var n in names) _read.Add(n);
    }

    public long Int(string name, long fallback) => TryGet(name, AttrType.Int, out var a) ? a.I : fallback;
    public float Float(string name, float fallback) => TryGet(name, AttrType.Float, out var a) ? a.F : fallback;
    public string String(string name, string fallback) => TryGet(name, AttrType.String, out var a) ? a.S.ToStringUtf8() : fallback;
    public long[]? Ints(string name) => TryGet(name, AttrType.Ints, out var a) ? a.Ints.ToArray() : null;
    public float[]? Floats(string name) => TryGet(name, AttrType.Floats, out var a) ? a.Floats.ToArray() : null;
    public string[]? Strings(string name) => TryGet(name, AttrType.Strings, out var a) ? a.Strings.Select(b => b.ToStringUtf8()).ToArray() : null;

    public Tensor? TensorAttr(string name) =>
        TryGet(name, AttrType.Tensor, out var a) ? OnnxTensors.ToTensor(a.T, _baseDir, Describe) : null;

    /// <summary>Throws if the node has attributes the factory did not read.</summary>
    internal void CheckAllRead()
    {
        foreach (var name in _attrs.Keys)
            if (!_read.Contains(name))
                throw Unsupported($"attribute '{name}' is not supported");
    }

    bool TryGet(string name, AttrType type, out AttributeProto attr)
    {
        _read.Add(name);
        if (!_attrs.TryGetValue(name, out attr!)) return false;
        if (attr.RefAttrName.Length > 0)
            throw Unsupported($"attribute '{name}' refers to a function attribute");
        // Old exporters sometimes leave the type unset; trust the field that is filled.
        if (attr.Type != type && attr.Type != AttrType.Undefined)
            throw Unsupported($"attribute '{name}' has type {attr.Type}, expected {type}");
        return true;
    }
}
