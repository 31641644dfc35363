using LayerLens.Images;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Models.Engine;
using LayerLens.Preprocessing;
using LayerLens.Zoo;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LayerLens.Tests.TfJs;

/// <summary>
/// The ten human-models graphs run in LayerLens and in TensorFlow.js's pure-JavaScript CPU backend on the same
/// input; every node value TensorFlow.js computes must match LayerLens's value of the same name. Floats agree to
/// 1e-4 of the reference tensor's largest magnitude plus 1e-6 absolute (for tensors of tiny values such as a sigmoid
/// of large negative logits); integer and boolean values agree exactly.
/// </summary>
public class TfJsReferenceTests
{
    const double Tolerance = 1e-4;
    const double AbsoluteFloor = 1e-6;
    // End-to-end differences above the tolerance are accepted only up to this size, and only when the node's kernel,
    // run on TensorFlow.js's own input values, reproduces TensorFlow.js's output within the tolerance.
    const double PropagatedLimit = 1e-3;
    readonly ITestOutputHelper _out;

    public TfJsReferenceTests(ITestOutputHelper output) => _out = output;

    /// <summary>Model and the photo it sees (a face, a person, a street object); the zoo entry gives the preprocessing.</summary>
    public static readonly (string Model, string Photo)[] Models =
    {
        ("emotion", "astronaut"),
        ("nanodet", "motorcycle_left"),
        ("centernet", "chelsea"),
        ("gear", "astronaut"),
        ("faceres", "astronaut"),
        ("blazeface", "astronaut"),
        ("movenet-lightning", "astronaut"),
        ("selfie", "astronaut"),
        ("handdetect", "astronaut"),
        ("efficientpose", "astronaut"),
    };

    public static IEnumerable<object[]> Cases() =>
        Models.SelectMany(m => new[] { new object[] { m.Model, "random" }, new object[] { m.Model, "photo" } });

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_node_matches_TensorFlowJs_cpu_backend(string model, string inputKind)
    {
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        var (_, photo) = Models.Single(m => m.Model == model);
        var preprocessing = ModelZoo.BuiltIn().Single(e => e.Name == model).Preprocessing;
        var json = TfJsReference.ModelJson(model);
        using var graph = ModelLoader.Load(json);
        Assert.Equal("tfjs", graph.Format);
        var inputInfo = graph.Inputs.Single();
        var shape = inputInfo.Shape.Select(d => d < 0 ? 1 : d).ToArray();

        using var input = inputKind == "random"
            ? RandomInput(shape, preprocessing, seed: 20260101 + Array.FindIndex(Models, m => m.Model == model))
            : PreparePhoto(preprocessing, TfJsReference.FixturePath("Photos", photo + ".png"));
        Assert.Equal(shape, input.shape);

        var refDir = TfJsReference.Run(json, new Dictionary<string, Tensor> { [inputInfo.Name] = input });
        var (values, refOutputs) = TfJsReference.Manifest(refDir);
        var byName = values.ToDictionary(v => v.Name, StringComparer.Ordinal);
        Assert.Equal(refOutputs.OrderBy(x => x, StringComparer.Ordinal), graph.OutputNames.OrderBy(x => x, StringComparer.Ordinal));

        double worst = 0;
        string worstName = "";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var failures = new List<(string Name, string Message)>();
        var producer = graph.Nodes.SelectMany(n => n.Outputs.Select(o => (o, n))).Where(x => x.o.Length > 0).ToDictionary(x => x.o, x => x.n, StringComparer.Ordinal);
        var tieFlips = new HashSet<string>(StringComparer.Ordinal);
        var propagated = new List<string>();
        void Compare(string name, Tensor actual)
        {
            if (!byName.TryGetValue(name, out var v) || !seen.Add(name)) return;
            using var expected = Npy.Read(v.File);
            var (err, message) = Difference(name, expected, actual);
            if (message != null)
            {
                if (producer.TryGetValue(name, out var node) && IsNearTie(node, name, expected, actual, byName, failures.Select(f => f.Name)))
                    tieFlips.Add(name);
                else if (err <= PropagatedLimit && producer.TryGetValue(name, out node) && LocalError(node, name, graph, byName) is { } local && local <= Tolerance)
                    propagated.Add($"{name} {err:E2} end to end, {local:E2} from TensorFlow.js's own inputs");
                else failures.Add((name, message));
            }
            else if (err > worst) { worst = err; worstName = name; }
        }

        using (var result = graph.Run(input, new RunOptions
        {
            Taps = graph.Layers.Select(l => l.Name).ToList(),
            KeepTaps = false,
            OnTap = (layer, t) => Compare(layer.Name, t),
        }))
        {
            foreach (var (name, t) in result.Outputs) Compare(name, t);
        }
        // Values TensorFlow.js computes that LayerLens folded into constants at load time.
        // Shape computations (Shape of a live tensor and what follows from it) are not layers; their values are
        // checked through the layers that consume them.
        int shapeValues = 0;
        foreach (var v in values)
            if (!graph.HasLayer(v.Name))
            {
                if (graph.Constants.TryGetValue(v.Name, out var c)) { Compare(v.Name, c); continue; }
                bool computed = graph.Nodes.Any(n => n.Outputs.Contains(v.Name));
                Assert.True(computed || graph.OutputNames.Contains(v.Name), $"{model}: TensorFlow.js node value '{v.Name}' has no counterpart in LayerLens");
                if (computed && !seen.Contains(v.Name)) { shapeValues++; seen.Add(v.Name); }
            }

        // A discrete decision (Equal, ArgMax, TopK indices) on two values that agree to the tolerance may fall either
        // way under float rounding; such a flip, checked as a near-tie in TensorFlow.js's own inputs, excuses only the
        // values computed from it, which are listed in the output.
        var downstream = Downstream(graph, tieFlips);
        var excused = failures.Where(f => downstream.Contains(f.Name)).ToList();
        failures.RemoveAll(f => downstream.Contains(f.Name));
        _out.WriteLine($"{model} ({inputKind}): {seen.Count} of {values.Count} values compared ({shapeValues} shape computations through their consumers), max error {worst:E2} of the tensor's largest magnitude at '{worstName}' (among values within tolerance)");
        if (propagated.Count > 0)
            _out.WriteLine($"  above 1e-4 only through rounding carried from earlier layers (the node's own kernel agrees): {string.Join("; ", propagated)}");
        if (tieFlips.Count > 0)
            _out.WriteLine($"  near-tie flips in {string.Join(", ", tieFlips)}; {excused.Count} values downstream differ: {string.Join(", ", excused.Select(e => e.Name))}");
        Assert.True(seen.Count == values.Count, $"{model}: compared only {seen.Count} of {values.Count} TensorFlow.js values");
        Assert.True(failures.Count == 0, $"{model} ({inputKind}): {failures.Count} values differ from TensorFlow.js; first: {string.Join(" | ", failures.Take(3).Select(f => f.Message))}");
    }

    /// <summary>The node's kernel run on TensorFlow.js's values of its inputs, compared with TensorFlow.js's output.</summary>
    static double? LocalError(GraphNode node, string name, ModelGraph graph, Dictionary<string, TfJsReference.Value> byName)
    {
        using var scope = torch.NewDisposeScope();
        var args = new Tensor?[node.Inputs.Length];
        for (int i = 0; i < args.Length; i++)
        {
            var input = node.Inputs[i];
            if (input.Length == 0) continue;
            if (byName.TryGetValue(input, out var v)) args[i] = Npy.Read(v.File);
            else if (graph.Constants.TryGetValue(input, out var c)) args[i] = c;
            else if (graph.Inputs.Any(g => g.Name == input)) return null;
            else return null;
        }
        using var noGrad = torch.no_grad();
        var outputs = node.Kernel(args);
        int k = Array.IndexOf(node.Outputs, name);
        using var expected = Npy.Read(byName[name].File);
        return Difference(name, expected, outputs[k]).Error;
    }

    static HashSet<string> Downstream(ModelGraph graph, IEnumerable<string> roots)
    {
        var set = new HashSet<string>(roots, StringComparer.Ordinal);
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (var n in graph.Nodes)
                if (n.Inputs.Any(set.Contains))
                    foreach (var o in n.Outputs)
                        if (o.Length > 0 && set.Add(o)) grew = true;
        }
        return set;
    }

    /// <summary>
    /// Whether every position where a discrete op's result differs is a near-tie in TensorFlow.js's own inputs:
    /// comparison operands within the tolerance, ArgMax candidates within the tolerance, TopK indices whose values agree.
    /// </summary>
    static bool IsNearTie(GraphNode node, string name, Tensor expected, Tensor actual, Dictionary<string, TfJsReference.Value> byName, IEnumerable<string> failed)
    {
        using var scope = torch.NewDisposeScope();
        Tensor? RefInput(int i) => i < node.Inputs.Length && byName.TryGetValue(node.Inputs[i], out var v) ? Npy.Read(v.File) : null;
        var differ = expected.to_type(ScalarType.Int64).ne(actual.detach().cpu().to_type(ScalarType.Int64));
        switch (node.OpType)
        {
            case "Equal" or "NotEqual" or "Greater" or "GreaterEqual" or "Less" or "LessEqual":
            {
                if (RefInput(0) is not { } a || RefInput(1) is not { } b) return false;
                var gap = (a.to_type(ScalarType.Float64) - b.to_type(ScalarType.Float64)).abs().expand_as(differ);
                double scale = Math.Max(a.abs().max().item<float>(), b.abs().max().item<float>());
                return gap.masked_select(differ).le(Tolerance * scale + AbsoluteFloor).all().item<bool>();
            }
            case "ArgMax":
            {
                if (RefInput(0) is not { } x || RefInput(1) is not { } axisT) return false;
                long axis = ElementTypes.ToLongs(axisT)[0];
                if (axis < 0) axis += x.dim();
                var xf = x.to_type(ScalarType.Float64);
                var atRef = xf.gather(axis, expected.to_type(ScalarType.Int64).unsqueeze(axis)).squeeze(axis);
                var atOurs = xf.gather(axis, actual.detach().cpu().to_type(ScalarType.Int64).unsqueeze(axis)).squeeze(axis);
                double scale = x.abs().max().item<float>();
                return (atRef - atOurs).abs().le(Tolerance * scale + AbsoluteFloor).all().item<bool>();
            }
            case "TopKV2" when name.EndsWith(":1", StringComparison.Ordinal):
                return !failed.Contains(name[..^2]);
            default:
                return false;
        }
    }

    /// <summary>Largest |a−b| relative to the reference's largest magnitude, and a message when it exceeds the tolerance.</summary>
    internal static (double Error, string? Message) Difference(string name, Tensor expected, Tensor actual)
    {
        using var scope = torch.NewDisposeScope();
        var a = actual.detach().cpu();
        if (!expected.shape.SequenceEqual(a.shape))
            return (double.PositiveInfinity, $"'{name}': shape [{string.Join(",", a.shape)}] vs TensorFlow.js [{string.Join(",", expected.shape)}]");
        if (!expected.is_floating_point())
        {
            long diff = expected.to_type(ScalarType.Int64).ne(a.to_type(ScalarType.Int64)).sum().item<long>();
            return (diff == 0 ? 0 : double.PositiveInfinity, diff == 0 ? null : $"'{name}': {diff} integer values differ");
        }
        var e = expected.to_type(ScalarType.Float64);
        var x = a.to_type(ScalarType.Float64);
        if (e.numel() == 0) return (0, null);
        // Padding with -inf (before max pooling) is compared exactly; finite values relative to the finite scale.
        var finite = e.isfinite();
        long nonFiniteMismatch = finite.logical_not().logical_and(x.ne(e)).sum().item<long>()
                               + finite.logical_and(x.isfinite().logical_not()).sum().item<long>();
        var d = torch.where(finite, (x - e).abs(), torch.zeros_like(e));
        double scale = Math.Max(torch.where(finite, e.abs(), torch.zeros_like(e)).max().item<double>(), 1e-30);
        double err = d.max().item<double>() / scale;
        if (nonFiniteMismatch > 0) return (double.PositiveInfinity, $"'{name}': {nonFiniteMismatch} NaN/infinite values differ");
        using var limit = (Tolerance * scale + AbsoluteFloor).ToScalar(); // held: see scripts/test.sh on implicit Scalars
        bool within = d.le(limit).all().item<bool>();
        return (err, within ? null : $"'{name}': max error {err:E2} (scale {scale:G4})");
    }

    static Tensor PreparePhoto(PreprocessingSpec preprocessing, string path)
    {
        using var pre = new ImagePreprocessor(preprocessing);
        return pre.Prepare(ImageDecoder.Decode(path)).Input;
    }

    /// <summary>Uniform values over the range the preprocessing produces (0..1 after a mean/std normalisation).</summary>
    static Tensor RandomInput(long[] shape, PreprocessingSpec preprocessing, int seed)
    {
        var rng = new Random(seed);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (preprocessing.DType == PixelType.Int32)
            return torch.tensor(Enumerable.Range(0, (int)n).Select(_ => rng.Next(0, 256)).ToArray(), shape, ScalarType.Int32);
        var (scale, offset) = preprocessing.Mean != null ? (1.0, 0.0) : preprocessing.Range switch
        {
            ValueRange.Signed => (2.0, -1.0),
            ValueRange.Byte => (255.0, 0.0),
            _ => (1.0, 0.0),
        };
        var values = new float[n];
        for (long i = 0; i < n; i++) values[i] = (float)(rng.NextDouble() * scale + offset);
        return torch.tensor(values, shape, ScalarType.Float32);
    }
}
