using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LayerLens.Models.TfJs;

/// <summary>
/// What an op factory sees of one TensorFlow node of a model.json: its attributes and arity. Attributes the
/// factory does not read are reported as unsupported at load time, except type parameters and TensorFlow's
/// bookkeeping attributes, which do not change the result.
/// </summary>
public sealed class TfJsNodeContext
{
    static readonly HashSet<string> Bookkeeping = new(StringComparer.Ordinal)
    {
        "T", "Tidx", "Tshape", "Tpaddings", "Tperm", "Taxis", "Tparams", "Tindices", "Tdim", "Tlen", "TI", "Index",
        "SrcT", "DstT", "Truncate", "N", "num_args", "use_cudnn_on_gpu", "validate_indices", "incompatible_shape_error",
        "out_type", "Tmultiples", "Tblock_shape", "Tcrops", "Tsplit",
    };

    readonly Dictionary<string, JsonElement> _attrs;
    readonly HashSet<string> _read = new(StringComparer.Ordinal);

    internal TfJsNodeContext(string name, string op, int inputCount, Dictionary<string, JsonElement> attrs)
    {
        Name = name;
        OpType = op;
        InputCount = inputCount;
        _attrs = attrs;
    }

    public string Name { get; }
    public string OpType { get; }
    /// <summary>Number of data inputs (control dependencies excluded).</summary>
    public int InputCount { get; }
    /// <summary>Number of outputs the node produces; factories of multi-output ops set it.</summary>
    public int OutputCount { get; set; } = 1;

    public string Describe => $"node '{Name}' ({OpType})";

    internal List<(int Index, string Suffix, Func<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Transform)> Preparations { get; } = new();

    /// <summary>
    /// Asks the importer to pass input <paramref name="index"/> through <paramref name="transform"/> in a node of
    /// its own (named input + "/" + <paramref name="suffix"/>), which the engine folds once when the input is a weight.
    /// </summary>
    public void Prepare(int index, string suffix, Func<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> transform)
    {
        if (index < InputCount) Preparations.Add((index, suffix, transform));
    }

    public LayerLensException Unsupported(string what) => new($"unsupported: {Describe}: {what}", ErrorKind.BadInput);

    public bool Has(string name) => _attrs.ContainsKey(name);

    public void Ignore(params string[] names)
    {
        foreach (var n in names) _read.Add(n);
    }

    public long Int(string name, long fallback) =>
        Get(name, "i") is { } v ? ParseLong(v) : fallback;

    public float Float(string name, float fallback) =>
        Get(name, "f") is { } v ? (float)v.GetDouble() : fallback;

    public bool Bool(string name, bool fallback) =>
        Get(name, "b") is { } v ? v.GetBoolean() : fallback;

    public string String(string name, string fallback) =>
        Get(name, "s") is { } v ? Encoding.UTF8.GetString(Convert.FromBase64String(v.GetString() ?? "")) : fallback;

    public string? TypeName(string name) => Get(name, "type")?.GetString();

    public long[]? Ints(string name)
    {
        var list = Get(name, "list");
        if (list is not { } l) return null;
        return l.TryGetProperty("i", out var i) ? i.EnumerateArray().Select(ParseLong).ToArray() : Array.Empty<long>();
    }

    public string[]? Strings(string name)
    {
        var list = Get(name, "list");
        if (list is not { } l) return null;
        return l.TryGetProperty("s", out var s)
            ? s.EnumerateArray().Select(e => Encoding.UTF8.GetString(Convert.FromBase64String(e.GetString() ?? ""))).ToArray()
            : Array.Empty<string>();
    }

    /// <summary>Throws if the node has attributes the factory did not read.</summary>
    internal void CheckAllRead()
    {
        foreach (var name in _attrs.Keys)
            if (!_read.Contains(name) && !Bookkeeping.Contains(name) && !name.StartsWith('_'))
                throw Unsupported($"attribute '{name}' is not supported");
    }

    JsonElement? Get(string name, string kind)
    {
        _read.Add(name);
        if (!_attrs.TryGetValue(name, out var attr)) return null;
        if (attr.ValueKind != JsonValueKind.Object) throw Unsupported($"attribute '{name}' is not an AttrValue object");
        if (attr.TryGetProperty(kind, out var v)) return v;
        // An empty AttrValue means the default; a list attribute may be written as {"list": {}}.
        if (!attr.EnumerateObject().Any()) return null;
        throw Unsupported($"attribute '{name}' is not of kind '{kind}'");
    }

    static long ParseLong(JsonElement e) =>
        e.ValueKind == JsonValueKind.String ? long.Parse(e.GetString()!, CultureInfo.InvariantCulture) : e.GetInt64();
}
