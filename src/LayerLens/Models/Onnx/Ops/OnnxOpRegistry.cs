using LayerLens.Models.Engine;
using static TorchSharp.torch;

namespace LayerLens.Models.Onnx.Ops;

/// <summary>Builds the kernel of one node, reading its attributes; throws for what it does not support.</summary>
public delegate Kernel OnnxOpFactory(OnnxNodeContext ctx);

/// <summary>The ONNX operators LayerLens runs, each mapped to libtorch calls.</summary>
public static partial class OnnxOpRegistry
{
    static readonly Dictionary<string, OnnxOpFactory> Factories = new(StringComparer.Ordinal);
    static readonly HashSet<string> Nondeterministic = new(StringComparer.Ordinal) { "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli" };

    static OnnxOpRegistry()
    {
        RegisterElementwise();
        RegisterNeural();
        RegisterTensorOps();
        RegisterReductions();
        RegisterExtras();
        RegisterRecurrent();
    }

    public static bool TryGet(string opType, out OnnxOpFactory factory) => Factories.TryGetValue(opType, out factory!);

    public static IReadOnlyCollection<string> SupportedOps => Factories.Keys;

    public static bool IsNondeterministic(string opType) => Nondeterministic.Contains(opType);

    static void Add(string op, OnnxOpFactory f) => Factories[op] = f;

    /// <summary>A kernel with one output.</summary>
    static Kernel One(Func<Tensor?[], Tensor> f) => args => new[] { f(args) };

    static Tensor In(Tensor?[] args, int i, OnnxNodeContext ctx) =>
        i < args.Length && args[i] is { } t ? t : throw ctx.Unsupported($"required input {i} is missing");

    static Tensor? Opt(Tensor?[] args, int i) => i < args.Length ? args[i] : null;

    static long Axis(long axis, long rank) => axis < 0 ? axis + rank : axis;

    static long[] Axes(IEnumerable<long> axes, long rank) => axes.Select(a => Axis(a, rank)).ToArray();
}
