using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Models.TfJs.Ops;

/// <summary>Builds the kernel of one TensorFlow node, reading its attributes; throws for what it does not support.</summary>
public delegate Kernel TfJsOpFactory(TfJsNodeContext ctx);

/// <summary>
/// The TensorFlow ops LayerLens runs from TensorFlow.js graph models, each mapped to libtorch calls with
/// TensorFlow's semantics (NHWC data, SAME padding, floor division, TensorFlow.js's resize arithmetic).
/// </summary>
public static partial class TfJsOpRegistry
{
    static readonly Dictionary<string, TfJsOpFactory> Factories = new(StringComparer.Ordinal);

    static TfJsOpRegistry()
    {
        RegisterElementwise();
        RegisterNeural();
        RegisterTensorOps();
    }

    public static bool TryGet(string op, out TfJsOpFactory factory) => Factories.TryGetValue(op, out factory!);

    public static IReadOnlyCollection<string> SupportedOps => Factories.Keys;

    static void Add(string op, TfJsOpFactory f) => Factories[op] = f;

    static Kernel One(Func<Tensor?[], Tensor> f) => args => new[] { f(args) };

    static Tensor In(Tensor?[] args, int i, TfJsNodeContext ctx) =>
        i < args.Length && args[i] is { } t ? t : throw ctx.Unsupported($"input {i} is missing");

    static long Axis(long axis, long rank) => axis < 0 ? axis + rank : axis;

    static long[] Longs(Tensor t) => ElementTypes.ToLongs(t);

    static long Long(Tensor t) => ElementTypes.ToLongs(t)[0];

    static Tensor IntTensor(long[] values, Device device, ScalarType type = ScalarType.Int32) =>
        torch.tensor(values, dtype: ScalarType.Int64, device: device).to_type(type);

    /// <summary>TensorFlow's DT_* attribute as a libtorch type.</summary>
    static ScalarType TypeAttr(TfJsNodeContext ctx, string name, string fallback) =>
        TfJsImporter.ScalarTypeOf(ctx.TypeName(name) ?? fallback, ctx.Describe);
}
