using LayerLens.Models.Engine;
using static TorchSharp.torch;

namespace LayerLens.Quality.Distances;

/// <summary>Tapped activations of one batch of images, one entry per layer; disposing frees them.</summary>
public sealed class LayerFeatures : IDisposable
{
    readonly ForwardResult _run;
    internal LayerFeatures(ForwardResult run) => _run = run;
    public IReadOnlyDictionary<string, Tensor> ByLayer => _run.Taps;
    public void Dispose() => _run.Dispose();
}

/// <summary>Per-layer readout terms of a batch of pairs: float64 [N, K_layer] in the distance's layer order.</summary>
public sealed class LayerContributions : IDisposable
{
    internal LayerContributions(IReadOnlyList<string> layers, IReadOnlyList<Tensor> terms)
    {
        Layers = layers;
        Terms = terms;
    }
    public IReadOnlyList<string> Layers { get; }
    public IReadOnlyList<Tensor> Terms { get; }
    public long Pairs => Terms[0].shape[0];
    /// <summary>All layers side by side, [N, ΣK]: the columns channel weights act on.</summary>
    public Tensor Concatenated() => cat(Terms.ToArray(), 1);
    public void Dispose() { foreach (var t in Terms) t.Dispose(); }
}

/// <summary>Distances of a batch of pairs: one row per layer and the layers combined.</summary>
public sealed record DistanceResult(IReadOnlyList<string> Layers, double[][] PerLayer, double[] Combined);

/// <summary>
/// A deep-feature distance for any model graph and any set of its layers: the reference image's activations
/// are computed once (<see cref="Features"/>), and every distorted batch costs one forward pass that taps all
/// layers and reduces them to readout terms as they are produced, so activations are not held.
/// </summary>
public sealed class DeepDistance
{
    readonly ModelGraph _graph;
    readonly Dictionary<string, double[]>? _weights;

    /// <summary>Weights are optional non-negative channel weights per layer (length = the readout's terms of
    /// that layer); layers without weights use the readout's default.</summary>
    public DeepDistance(ModelGraph graph, IEnumerable<string> layers, FeatureReadout readout,
        IReadOnlyDictionary<string, double[]>? weights = null)
    {
        _graph = graph;
        Layers = layers.Distinct(StringComparer.Ordinal).ToArray();
        if (Layers.Count == 0)
            throw new LayerLensException($"deep distance on model '{graph.Name}' needs at least one layer", ErrorKind.Usage);
        foreach (var l in Layers) graph.Layer(l);
        Readout = readout;
        if (weights != null)
        {
            foreach (var (layer, w) in weights)
            {
                if (!Layers.Contains(layer))
                    throw new LayerLensException($"channel weights given for layer '{layer}', which is not among the distance's layers", ErrorKind.BadInput);
                if (w.Any(v => !(v >= 0) || double.IsInfinity(v)))
                    throw new LayerLensException($"channel weights of layer '{layer}' must be finite and non-negative", ErrorKind.BadInput);
            }
            _weights = weights.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        }
    }

    public IReadOnlyList<string> Layers { get; }
    public FeatureReadout Readout { get; }
    internal ModelGraph Graph => _graph;

    /// <summary>One forward pass over <paramref name="input"/> keeping the activations of every layer.</summary>
    public LayerFeatures Features(Tensor input) =>
        new(_graph.Run(input, new RunOptions { Taps = Layers.ToArray(), KeepTaps = true }));

    /// <summary>One forward pass over the distorted batch, reduced against the reference features.</summary>
    public LayerContributions Contributions(LayerFeatures reference, Tensor distortedInput) =>
        ContributionsOfAll(new[] { this }, reference, distortedInput)[0];

    /// <summary>
    /// One forward pass over the distorted batch serving several distances on the same graph (different readouts
    /// or weights): each tapped layer is reduced by every distance that uses it, then dropped.
    /// </summary>
    public static IReadOnlyList<LayerContributions> ContributionsOfAll(IReadOnlyList<DeepDistance> distances, LayerFeatures reference, Tensor distortedInput)
    {
        if (distances.Count == 0) throw new LayerLensException("no deep distance to compute", ErrorKind.Internal);
        var graph = distances[0]._graph;
        if (distances.Any(d => !ReferenceEquals(d._graph, graph)))
            throw new LayerLensException("distances computed in one pass must share their model graph", ErrorKind.Internal);
        var taps = distances.SelectMany(d => d.Layers).Distinct(StringComparer.Ordinal).ToArray();
        var terms = distances.Select(_ => new Dictionary<string, Tensor>(StringComparer.Ordinal)).ToArray();
        try
        {
            using var run = graph.Run(distortedInput, new RunOptions
            {
                Taps = taps,
                KeepTaps = false,
                OnTap = (layer, act) =>
                {
                    using var scope = NewDisposeScope();
                    var r = reference.ByLayer.TryGetValue(layer.Name, out var rr) ? rr
                        : throw new LayerLensException($"layer '{layer.Name}' was not tapped on the reference image", ErrorKind.Internal);
                    if (!r.shape.Skip(1).SequenceEqual(act.shape.Skip(1)))
                        throw new LayerLensException(
                            $"layer '{layer.Name}': reference activations [{string.Join(",", r.shape)}] and distorted [{string.Join(",", act.shape)}] differ (images of different sizes?)",
                            ErrorKind.BadInput);
                    // Readouts expect channels second ([N, C, H, W]); channels-last maps are permuted.
                    var rc = graph.ChannelsFirst(r);
                    var ac = graph.ChannelsFirst(act);
                    for (int k = 0; k < distances.Count; k++)
                        if (distances[k].Layers.Contains(layer.Name))
                            terms[k][layer.Name] = distances[k].Readout.Contributions(rc, ac).MoveToOuterDisposeScope();
                },
            });
            return distances.Select((d, k) => new LayerContributions(d.Layers, d.Layers.Select(l => terms[k][l]).ToArray())).ToArray();
        }
        catch
        {
            foreach (var t in terms.SelectMany(x => x.Values)) t.Dispose();
            throw;
        }
    }

    /// <summary>Per-layer and combined distances from readout terms.</summary>
    public DistanceResult Distances(LayerContributions c)
    {
        using var scope = NewDisposeScope();
        var perLayer = new double[Layers.Count][];
        var all = new List<Tensor>();
        for (int i = 0; i < Layers.Count; i++)
        {
            var w = Weights(Layers[i], c.Terms[i].shape[1], c.Terms[i].shape[1]);
            all.Add(w);
            perLayer[i] = Readout.Finish(c.Terms[i].matmul(Readout.Normalise(w))).data<double>().ToArray();
        }
        var total = c.Terms.Sum(t => t.shape[1]);
        var wAll = _weights == null ? full(total, Readout.DefaultWeight(total), dtype: ScalarType.Float64) : cat(all.ToArray());
        var combined = Readout.Finish(c.Concatenated().matmul(Readout.Normalise(wAll))).data<double>().ToArray();
        return new DistanceResult(Layers, perLayer, combined);
    }

    /// <summary>Distances of a distorted batch to the reference (one forward pass).</summary>
    public DistanceResult Compare(LayerFeatures reference, Tensor distortedInput)
    {
        using var c = Contributions(reference, distortedInput);
        return Distances(c);
    }

    Tensor Weights(string layer, long terms, long totalForDefault)
    {
        if (_weights != null && _weights.TryGetValue(layer, out var w))
        {
            if (w.Length != terms)
                throw new LayerLensException($"layer '{layer}' has {terms} {Readout.Name} terms but {w.Length} channel weights were given", ErrorKind.BadInput);
            return tensor(w);
        }
        return full(terms, Readout.DefaultWeight(totalForDefault), dtype: ScalarType.Float64);
    }
}
