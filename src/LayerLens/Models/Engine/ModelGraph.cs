using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Models.Engine;

/// <summary>Called with each tapped layer as soon as it is computed; the tensor is valid only during the call
/// unless the run keeps taps. It may be strided (not contiguous): reduce it with tensor ops or call contiguous().</summary>
public delegate void TapSink(LayerInfo layer, Tensor activation);

/// <summary>Options of one forward pass.</summary>
public sealed record RunOptions
{
    /// <summary>Layer names to tap (see <see cref="LayerSelector"/> to choose them).</summary>
    public IReadOnlyCollection<string> Taps { get; init; } = Array.Empty<string>();
    /// <summary>Record the autograd graph so gradients reach the inputs and every tapped activation.</summary>
    public bool Grad { get; init; }
    /// <summary>Return tapped activations in <see cref="ForwardResult.Taps"/>; false frees each after <see cref="OnTap"/>.</summary>
    public bool KeepTaps { get; init; } = true;
    /// <summary>Streaming consumer of tapped layers (reduce and store without holding all layers).</summary>
    public TapSink? OnTap { get; init; }
    /// <summary>Reject inputs with NaN or infinite values.</summary>
    public bool CheckFinite { get; init; } = true;
    /// <summary>Rewrites chosen layers as they are computed (an intervention such as ablating channels): the function
    /// gets the layer's value and returns the value that taps and later nodes see. It must not modify its argument.</summary>
    public IReadOnlyDictionary<string, Func<Tensor, Tensor>>? Replace { get; init; }
}

/// <summary>Outputs and tapped activations of one forward pass; disposing it frees them all.</summary>
public sealed class ForwardResult : IDisposable
{
    internal ForwardResult(Dictionary<string, Tensor> outputs, Dictionary<string, Tensor> taps)
    {
        Outputs = outputs;
        Taps = taps;
    }

    /// <summary>Graph outputs by name, in the model's declared order.</summary>
    public IReadOnlyDictionary<string, Tensor> Outputs { get; }
    /// <summary>Tapped activations by layer name.</summary>
    public IReadOnlyDictionary<string, Tensor> Taps { get; }

    public void Dispose()
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var t in Outputs.Values.Concat(Taps.Values))
            if (seen.Add(t)) t.Dispose();
    }
}

/// <summary>
/// A model as a graph of compiled nodes, run eagerly with libtorch. Any node output can be tapped in the same
/// forward pass, and with <see cref="RunOptions.Grad"/> the pass is differentiable to inputs, taps and weights.
/// Importers (ONNX, TensorFlow.js) build it; nothing downstream depends on the file format.
/// </summary>
public sealed class ModelGraph : IDisposable
{
    readonly Dictionary<string, Tensor> _constants;
    GraphNode[] _nodes;
    readonly HashSet<GraphNode> _shapeNodes = new(ReferenceEqualityComparer.Instance);
    readonly Dictionary<string, LayerInfo> _layerByName = new(StringComparer.Ordinal);
    readonly Dictionary<GraphNode, int> _nodeIndex = new(ReferenceEqualityComparer.Instance);
    List<LayerInfo> _layers = new();
    bool _disposed;

    public ModelGraph(
        string name,
        string format,
        IReadOnlyList<GraphInputInfo> inputs,
        IReadOnlyList<string> outputs,
        IReadOnlyDictionary<string, Tensor> constants,
        IReadOnlyList<GraphNode> nodes,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        Name = name;
        Format = format;
        Inputs = inputs.ToArray();
        OutputNames = outputs.ToArray();
        _constants = new Dictionary<string, Tensor>(constants, StringComparer.Ordinal);
        Metadata = metadata ?? new Dictionary<string, string>();
        _nodes = TopologicalOrder(nodes, Inputs.Select(i => i.Name).Concat(_constants.Keys));
        FoldConstants();
        ClassifyAndIndex();
    }

    public string Name { get; }
    /// <summary>The importer's parsed file (an ONNX ModelProto, or a TF.js model.json as a JsonElement), kept so a changed model can be saved as ONNX.</summary>
    public object? Source { get; init; }
    /// <summary>"onnx" or "tfjs".</summary>
    public string Format { get; }
    public IReadOnlyList<GraphInputInfo> Inputs { get; }
    public IReadOnlyList<string> OutputNames { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyList<GraphNode> Nodes => _nodes;
    /// <summary>Initializers and folded constants, by value name.</summary>
    public IReadOnlyDictionary<string, Tensor> Constants => _constants;
    public ComputeDevice Device { get; private set; } = ComputeDevice.Cpu;

    /// <summary>
    /// Whether a 4-D activation of this graph carries its channels last ([N, H, W, C]). Plain ONNX graphs are NCHW.
    /// TensorFlow graphs are NHWC by default, but graphs converted from ONNX (nanodet) transpose back and forth, so
    /// the activation's own shape decides where it can: square maps ([N, S, S, C] vs [N, C, S, S]) are unambiguous;
    /// otherwise the graph's declared layout is taken.
    /// </summary>
    public bool IsChannelsLast(long[] shape)
    {
        if (shape.Length != 4) return false;
        bool declared = Metadata.TryGetValue("layout", out var layout);
        if (!declared && Format != "tfjs") return false;
        if (shape[1] == shape[2] && shape[3] != shape[1]) return true;
        if (shape[2] == shape[3] && shape[1] != shape[2]) return false;
        return declared ? layout == "NHWC" : true;
    }

    /// <summary>A 4-D activation as [N, C, H, W] (a permuted view when the graph keeps it channels last).</summary>
    public Tensor ChannelsFirst(Tensor activation) =>
        activation.dim() == 4 && IsChannelsLast(activation.shape) ? activation.permute(0, 3, 1, 2) : activation;

    /// <summary>
    /// The largest batch the graph takes: 1 when its first input declares a fixed batch of 1 (models exported without
    /// a dynamic batch axis, many TF.js detectors), else unlimited. Batching code clamps its batch size to this.
    /// </summary>
    public int MaxBatch => Inputs.Count > 0 && Inputs[0].Shape is { Length: > 0 } s && s[0] == 1 && Inputs[0].SymbolicBatch == null ? 1 : int.MaxValue;

    /// <summary>Every tappable layer in execution order (shape computations and constants are not layers).</summary>
    public IReadOnlyList<LayerInfo> Layers => _layers;

    public LayerInfo Layer(string name) =>
        _layerByName.TryGetValue(name, out var l) ? l
            : throw new LayerLensException($"model '{Name}' has no layer named '{name}'", ErrorKind.BadInput);

    public bool HasLayer(string name) => _layerByName.ContainsKey(name);

    /// <summary>Trainable tensors: floating-point constants read by layer nodes (weights, biases, norms).</summary>
    public IReadOnlyDictionary<string, Tensor> Parameters =>
        _constants.Where(kv => kv.Value.is_floating_point() && IsReadByLayer(kv.Key))
                  .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    /// <summary>Moves all constants to <paramref name="device"/>.</summary>
    public void To(ComputeDevice device)
    {
        var d = device.ToTorch();
        foreach (var key in _constants.Keys.ToList())
        {
            var t = _constants[key];
            if (t.device.type == d.type && t.device.index == d.index) continue;
            _constants[key] = t.to(d);
            t.Dispose();
        }
        Device = device;
    }

    /// <summary>Replaces a constant (e.g. a fine-tuned weight); shape and dtype must match.</summary>
    public void SetConstant(string name, Tensor value)
    {
        if (!_constants.TryGetValue(name, out var old))
            throw new LayerLensException($"model '{Name}' has no constant named '{name}'", ErrorKind.BadInput);
        if (!old.shape.SequenceEqual(value.shape) || old.dtype != value.dtype)
            throw new LayerLensException($"constant '{name}': new value has shape [{string.Join(",", value.shape)}] {value.dtype}, expected [{string.Join(",", old.shape)}] {old.dtype}", ErrorKind.BadInput);
        _constants[name] = value;
        old.Dispose();
    }

    /// <summary>Runs one batch with a single input (models with one input).</summary>
    public ForwardResult Run(Tensor input, RunOptions? options = null)
    {
        if (Inputs.Count != 1)
            throw new LayerLensException($"model '{Name}' has {Inputs.Count} inputs ({string.Join(", ", Inputs.Select(i => i.Name))}); give each by name", ErrorKind.Usage);
        return Run(new Dictionary<string, Tensor> { [Inputs[0].Name] = input }, options);
    }

    /// <summary>
    /// Runs one batch. Every node runs once; tapped layers are returned (or streamed to
    /// <see cref="RunOptions.OnTap"/>) from the same pass, and intermediates are freed after their last use.
    /// </summary>
    public ForwardResult Run(IReadOnlyDictionary<string, Tensor> inputs, RunOptions? options = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        options ??= new RunOptions();
        ValidateInputs(inputs, options.CheckFinite);
        var taps = new HashSet<string>(options.Taps, StringComparer.Ordinal);
        foreach (var t in taps)
            if (!_layerByName.ContainsKey(t))
                throw new LayerLensException($"model '{Name}' has no layer named '{t}' to tap", ErrorKind.BadInput);
        if (options.Replace != null)
            foreach (var t in options.Replace.Keys)
                if (!_layerByName.ContainsKey(t))
                    throw new LayerLensException($"model '{Name}' has no layer named '{t}' to replace", ErrorKind.BadInput);

        var keep = new HashSet<string>(OutputNames, StringComparer.Ordinal);
        if (options.KeepTaps) keep.UnionWith(taps);
        var lastUse = LastUse();
        var layout = ChannelsLastPlan();
        // Without gradients, convolution stacks run channels-last (see ChannelsLastPlan); with them the
        // engine hands out the very tensors autograd saw, so the layout stays as given.
        bool channelsLast = !options.Grad && layout.Inputs.Count > 0;
        var channelsLastValues = new HashSet<string>(StringComparer.Ordinal);
        var env = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var outputs = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var kept = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var owned = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);

        using var gradMode = options.Grad ? torch.enable_grad() : torch.no_grad();
        var shapeKey = ShapeKey(inputs);
        var folded = FoldedShapes(shapeKey);
        var newlyFolded = folded == null && _shapeNodes.Count > 0 ? new Dictionary<string, Tensor>(StringComparer.Ordinal) : null;
        var temporaries = new List<Tensor>();
        try
        {
            if (channelsLast)
                foreach (var name in layout.Inputs)
                    if (inputs.TryGetValue(name, out var x) && x.dim() == 4 && x.is_floating_point())
                    {
                        var converted = ToChannelsLast(x);
                        env[name] = converted;
                        owned.Add(converted);
                        channelsLastValues.Add(name);
                    }
            for (int i = 0; i < _nodes.Length; i++)
            {
                var node = _nodes[i];
                if (folded != null && _shapeNodes.Contains(node))
                {
                    // Shape arithmetic was folded to constants for these input shapes on an earlier run.
                    foreach (var o in node.Outputs)
                        if (o.Length > 0) env[o] = folded[o];
                    continue;
                }
                var args = new Tensor?[node.Inputs.Length];
                for (int k = 0; k < args.Length; k++)
                    args[k] = node.Inputs[k].Length == 0 ? null : Lookup(node.Inputs[k], inputs, env);
                if (channelsLast && !layout.Agnostic[i])
                    for (int k = 0; k < args.Length; k++)
                        if (channelsLastValues.Contains(node.Inputs[k]) && !args[k]!.is_contiguous())
                        {
                            // This kernel was not reviewed for strided inputs: give it the usual layout.
                            args[k] = args[k]!.contiguous();
                            temporaries.Add(args[k]!);
                        }
                var results = Invoke(node, args);
                foreach (var t in temporaries) t.Dispose();
                temporaries.Clear();
                for (int k = 0; k < node.Outputs.Length; k++)
                {
                    var name = node.Outputs[k];
                    var value = results[k];
                    if (name.Length == 0) { value.Dispose(); continue; }
                    if (newlyFolded != null && _shapeNodes.Contains(node)) newlyFolded[name] = value.detach().clone();
                    if (options.Replace != null && options.Replace.TryGetValue(name, out var rewrite))
                    {
                        Tensor replaced;
                        using (var rs = torch.NewDisposeScope())
                        {
                            replaced = rewrite(value);
                            if (rs.Contains(replaced)) rs.Detach(replaced);
                        }
                        if (!ReferenceEquals(replaced, value)) { value.Dispose(); value = replaced; }
                    }
                    if (options.Grad && taps.Contains(name) && value.is_floating_point() && !value.requires_grad)
                    {
                        // Nothing upstream needs gradients (e.g. CAMs on frozen weights and a plain image):
                        // make the tap a leaf so that gradients still reach it.
                        var leaf = value.detach().requires_grad_(true);
                        value.Dispose();
                        value = leaf;
                    }
                    env[name] = value;
                    owned.Add(value);
                    if (channelsLast && layout.Agnostic[i] && value.dim() == 4) channelsLastValues.Add(name);
                    // A streamed tap may be strided (channels-last here, a view after Transpose anywhere):
                    // making each one contiguous would cost a transposing copy per layer, more than the
                    // reductions consumers apply. Returned taps and outputs are made contiguous below.
                    if (taps.Contains(name) && options.OnTap != null)
                        options.OnTap(_layerByName[name], value);
                    if (!lastUse.ContainsKey(name) && !keep.Contains(name))
                        Release(name, env, owned);
                }
                foreach (var name in node.Inputs)
                    if (name.Length > 0 && lastUse.TryGetValue(name, out var last) && last == i && !keep.Contains(name))
                        Release(name, env, owned);
            }
            if (newlyFolded != null) StoreFoldedShapes(shapeKey, newlyFolded);
            newlyFolded = null;
            // Hand over the very tensors the graph used (not aliases), so autograd.grad can differentiate
            // with respect to a returned tap; values the run does not own (inputs, constants) are aliased.
            Tensor HandOver(string name, Tensor t) =>
                channelsLastValues.Contains(name) && !t.is_contiguous() ? t.contiguous()
                : owned.Remove(t) ? t : outputs.Values.Concat(kept.Values).Contains(t) ? t : t.alias();
            foreach (var o in OutputNames)
                outputs[o] = HandOver(o, Lookup(o, inputs, env));
            if (options.KeepTaps)
                foreach (var t in taps)
                    kept[t] = HandOver(t, env[t]);
        }
        catch
        {
            foreach (var t in outputs.Values.Concat(kept.Values)) t.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in temporaries) t.Dispose();
            foreach (var t in owned) t.Dispose();
            if (newlyFolded != null) foreach (var t in newlyFolded.Values) t.Dispose();
        }
        return new ForwardResult(outputs, kept);
    }

    /// <summary>
    /// Runs a zero batch at the given input shapes (or the declared ones) and
    /// records every layer's output shape in <see cref="Layers"/>.
    /// </summary>
    public IReadOnlyList<LayerInfo> InferShapes(IReadOnlyDictionary<string, long[]>? inputShapes = null)
    {
        using var scope = torch.NewDisposeScope();
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var inp in Inputs)
        {
            var shape = inputShapes != null && inputShapes.TryGetValue(inp.Name, out var s) ? s : inp.Shape;
            if (shape.Any(d => d < 0))
                throw new LayerLensException($"input '{inp.Name}' has unknown dimensions [{string.Join(",", inp.Shape.Select(d => d < 0 ? "?" : d.ToString()))}]; give --input-size", ErrorKind.Usage);
            feeds[inp.Name] = torch.zeros(shape, dtype: ElementTypes.ToScalarType(inp.ElementType), device: Device.ToTorch());
        }
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        using (Run(feeds, new RunOptions
        {
            Taps = _layers.Select(l => l.Name).ToList(),
            KeepTaps = false,
            CheckFinite = false,
            OnTap = (layer, t) => shapes[layer.Name] = t.shape.ToArray(),
        })) { }
        _layers = _layers.Select(l => l with { OutputShape = shapes.GetValueOrDefault(l.Name) }).ToList();
        foreach (var l in _layers) _layerByName[l.Name] = l;
        return _layers;
    }

    /// <summary>Input shapes for an image size: the declared shape with batch 1 and H, W replaced.</summary>
    public Dictionary<string, long[]> InputShapesFor(int height, int width, long batch = 1)
    {
        var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var inp in Inputs)
        {
            var s = inp.Shape.ToArray();
            if (s.Length == 4)
            {
                // NCHW when dim 1 is a small channel count (or unknown with a known last dim > 4), NHWC otherwise.
                bool nhwc = Metadata.TryGetValue("layout", out var lay) ? lay == "NHWC" : (s[3] > 0 && s[3] <= 4 && !(s[1] > 0 && s[1] <= 4));
                if (nhwc) { s[1] = height; s[2] = width; if (s[3] < 0) s[3] = 3; }
                else { s[2] = height; s[3] = width; if (s[1] < 0) s[1] = 3; }
            }
            s[0] = batch;
            for (int i = 0; i < s.Length; i++) if (s[i] < 0) s[i] = 1;
            result[inp.Name] = s;
        }
        return result;
    }

    const int MaxFoldedShapeSets = 16;
    readonly object _foldGate = new();
    readonly Dictionary<string, Dictionary<string, Tensor>> _foldedShapes = new(StringComparer.Ordinal);
    readonly Queue<string> _foldOrder = new();

    static string ShapeKey(IReadOnlyDictionary<string, Tensor> inputs) =>
        string.Join(";", inputs.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + string.Join(",", kv.Value.shape)));

    Dictionary<string, Tensor>? FoldedShapes(string key)
    {
        lock (_foldGate) return _foldedShapes.GetValueOrDefault(key);
    }

    /// <summary>
    /// Shape nodes depend only on the input shapes, so their values for one set of input shapes are constants:
    /// kept here (for the last few shape sets) so later runs of the same shapes skip them.
    /// </summary>
    void StoreFoldedShapes(string key, Dictionary<string, Tensor> values)
    {
        lock (_foldGate)
        {
            if (_foldedShapes.ContainsKey(key)) { foreach (var t in values.Values) t.Dispose(); return; }
            _foldedShapes[key] = values;
            _foldOrder.Enqueue(key);
            while (_foldOrder.Count > MaxFoldedShapeSets)
                if (_foldedShapes.Remove(_foldOrder.Dequeue(), out var old))
                    foreach (var t in old.Values) t.Dispose();
        }
    }

    /// <summary>Number of input-shape sets whose shape arithmetic is currently folded (for tests and diagnostics).</summary>
    public int FoldedShapeSets { get { lock (_foldGate) return _foldedShapes.Count; } }

    /// <summary>Nodes that compute only shapes; they are folded per input shape and are not layers.</summary>
    public int ShapeNodeCount => _shapeNodes.Count;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_foldGate)
        {
            foreach (var set in _foldedShapes.Values) foreach (var t in set.Values) t.Dispose();
            _foldedShapes.Clear();
        }
        foreach (var t in _constants.Values) t.Dispose();
        _constants.Clear();
    }

    // ---- internals ----

    bool IsReadByLayer(string valueName) =>
        _nodes.Any(n => !_shapeNodes.Contains(n) && n.Inputs.Contains(valueName));

    Tensor Lookup(string name, IReadOnlyDictionary<string, Tensor> inputs, Dictionary<string, Tensor> env)
    {
        if (env.TryGetValue(name, out var t)) return t;
        if (inputs.TryGetValue(name, out t)) return t;
        if (_constants.TryGetValue(name, out t)) return t;
        throw new LayerLensException($"model '{Name}': value '{name}' is read before it is computed", ErrorKind.Internal);
    }

    static void Release(string name, Dictionary<string, Tensor> env, HashSet<Tensor> owned)
    {
        if (!env.Remove(name, out var t)) return;
        if (owned.Remove(t)) t.Dispose();
    }

    static Tensor[] Invoke(GraphNode node, Tensor?[] args)
    {
        Tensor[] results;
        using (var scope = torch.NewDisposeScope())
        {
            try
            {
                results = node.Kernel(args);
            }
            catch (LayerLensException) { throw; }
            catch (Exception e) when (e is ExternalException || e is ArgumentException || e is InvalidOperationException || e is IndexOutOfRangeException)
            {
                throw new LayerLensException($"{node} failed: {FirstLine(e.Message)}", ErrorKind.BadInput, e);
            }
            if (results.Length < node.Outputs.Length)
                throw new LayerLensException($"{node} produced {results.Length} outputs, the graph expects {node.Outputs.Length}", ErrorKind.Internal);
            for (int k = 0; k < results.Length; k++)
            {
                // A kernel may hand back an input (Identity); the engine must own a distinct handle.
                if (args.Any(a => ReferenceEquals(a, results[k])) || results.Take(k).Any(r => ReferenceEquals(r, results[k])))
                    results[k] = results[k].alias();
                if (scope.Contains(results[k])) scope.Detach(results[k]);
            }
        }
        return results;
    }

    public static string FirstLine(string message)
    {
        var line = message.Split('\n', 2)[0].Trim();
        return line.Length > 300 ? line[..300] + "..." : line;
    }

    void ValidateInputs(IReadOnlyDictionary<string, Tensor> inputs, bool checkFinite)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var name in inputs.Keys)
            if (!Inputs.Any(i => i.Name == name))
                throw new LayerLensException($"model '{Name}' has no input named '{name}' (inputs: {string.Join(", ", Inputs.Select(i => i.Name))})", ErrorKind.BadInput);
        foreach (var inp in Inputs)
        {
            if (!inputs.TryGetValue(inp.Name, out var t))
                throw new LayerLensException($"model '{Name}' needs input '{inp.Name}' {inp}; it was not given", ErrorKind.BadInput);
            var declared = inp.Shape;
            bool ok = declared.Length == t.shape.Length;
            for (int d = 0; ok && d < declared.Length; d++)
                if (declared[d] >= 0 && declared[d] != t.shape[d] && !IsSpatial(inp, d)) ok = false;
            if (!ok)
                throw new LayerLensException($"input '{inp.Name}' expects shape [{string.Join(",", declared.Select(d => d < 0 ? "?" : d.ToString()))}], got [{string.Join(",", t.shape)}]", ErrorKind.BadInput);
            var expected = ElementTypes.ToScalarType(inp.ElementType);
            if (t.dtype != expected)
                throw new LayerLensException($"input '{inp.Name}' expects {inp.ElementType} values, got {t.dtype}", ErrorKind.BadInput);
            if (checkFinite && t.is_floating_point())
            {
                using var bad = t.isfinite().logical_not().any();
                if (bad.item<bool>())
                    throw new LayerLensException($"input '{inp.Name}' contains NaN or infinite values", ErrorKind.BadInput);
            }
        }
    }

    /// <summary>
    /// Height and width of a 4-D image input may differ from the declared size: exporters fix them to the
    /// example input, but convolutional graphs accept any size (a graph that cannot fails at the node that
    /// cannot, naming it).
    /// </summary>
    bool IsSpatial(GraphInputInfo input, int dim)
    {
        if (input.Shape.Length != 4) return false;
        bool nhwc = Metadata.TryGetValue("layout", out var layout) && layout == "NHWC";
        return nhwc ? dim is 1 or 2 : dim is 2 or 3;
    }

    /// <summary>Operators whose kernels are plain libtorch calls that accept any strides and keep the layout.</summary>
    static readonly HashSet<string> LayoutAgnosticOps = new(StringComparer.Ordinal)
    {
        "Conv", "Relu", "Sigmoid", "Tanh", "Clip", "Add", "Sub", "Mul", "Div",
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
    };

    sealed record LayoutPlan(IReadOnlyList<string> Inputs, bool[] Agnostic);

    LayoutPlan? _layoutPlan;

    /// <summary>
    /// Which graph inputs to feed channels-last (NHWC in memory, NCHW in shape): those read only by
    /// layout-agnostic nodes, at least one of them a convolution. libtorch's oneDNN convolutions then skip
    /// reordering every activation to and from their blocked layout, a fifth or so of a ResNet's CPU time.
    /// Values and shapes are unchanged; returned taps and outputs are contiguous as before, streamed taps may be strided.
    /// </summary>
    LayoutPlan ChannelsLastPlan()
    {
        if (_layoutPlan != null) return _layoutPlan;
        var agnostic = _nodes.Select(n => LayoutAgnosticOps.Contains(n.OpType)).ToArray();
        var chosen = new List<string>();
        foreach (var inp in Inputs)
        {
            if (inp.Shape.Length != 4 || OutputNames.Contains(inp.Name)) continue;
            var readers = Enumerable.Range(0, _nodes.Length).Where(i => _nodes[i].Inputs.Contains(inp.Name)).ToList();
            if (readers.Count > 0 && readers.All(i => agnostic[i]) && readers.Any(i => _nodes[i].OpType == "Conv"))
                chosen.Add(inp.Name);
        }
        return _layoutPlan = new LayoutPlan(chosen, agnostic);
    }

    /// <summary>The same NCHW tensor with channels innermost in memory (libtorch's channels_last format).</summary>
    internal static Tensor ToChannelsLast(Tensor x)
    {
        using var nhwc = x.permute(0, 2, 3, 1);
        using var packed = nhwc.contiguous();
        return packed.permute(0, 3, 1, 2);
    }

    // The node order is fixed after construction, so the map is built once rather than on every run.
    Dictionary<string, int>? _lastUse;

    Dictionary<string, int> LastUse()
    {
        if (_lastUse != null) return _lastUse;
        var last = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _nodes.Length; i++)
            foreach (var n in _nodes[i].Inputs)
                if (n.Length > 0) last[n] = i;
        return _lastUse = last;
    }

    static GraphNode[] TopologicalOrder(IReadOnlyList<GraphNode> nodes, IEnumerable<string> available)
    {
        var ready = new HashSet<string>(available, StringComparer.Ordinal);
        var producers = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        foreach (var n in nodes)
            foreach (var o in n.Outputs)
                if (o.Length > 0) producers[o] = n;
        var order = new List<GraphNode>(nodes.Count);
        var pending = nodes.ToList();
        // Kahn's algorithm that keeps the file's order among ready nodes (files are usually sorted already).
        while (pending.Count > 0)
        {
            var next = new List<GraphNode>();
            bool progressed = false;
            foreach (var n in pending)
            {
                if (n.Inputs.All(i => i.Length == 0 || ready.Contains(i)))
                {
                    order.Add(n);
                    foreach (var o in n.Outputs) if (o.Length > 0) ready.Add(o);
                    progressed = true;
                }
                else next.Add(n);
            }
            if (!progressed)
            {
                var stuck = next[0];
                var missing = stuck.Inputs.First(i => i.Length > 0 && !ready.Contains(i));
                throw new LayerLensException(producers.ContainsKey(missing)
                    ? $"{stuck} is part of a cycle through '{missing}'"
                    : $"{stuck} reads '{missing}', which no node, input or initializer provides", ErrorKind.BadInput);
            }
            pending = next;
        }
        return order.ToArray();
    }

    void FoldConstants()
    {
        var remaining = new List<GraphNode>();
        foreach (var node in _nodes)
        {
            bool foldable = node.Foldable && node.Inputs.All(i => i.Length == 0 || _constants.ContainsKey(i))
                            && !Inputs.Any(inp => node.Inputs.Contains(inp.Name));
            if (!foldable) { remaining.Add(node); continue; }
            using var noGrad = torch.no_grad();
            var args = node.Inputs.Select(i => i.Length == 0 ? null : _constants[i]).ToArray();
            var results = Invoke(node, args);
            for (int k = 0; k < node.Outputs.Length; k++)
            {
                if (node.Outputs[k].Length == 0) { results[k].Dispose(); continue; }
                _constants[node.Outputs[k]] = results[k];
            }
        }
        _nodes = remaining.ToArray();
    }

    /// <summary>
    /// Marks shape computations (Shape, Size and what is computed only from them and constants) as non-layers,
    /// then numbers the layers and measures their depth along the longest path from an input.
    /// </summary>
    void ClassifyAndIndex()
    {
        var shapeValues = new HashSet<string>(StringComparer.Ordinal);
        var depth = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var inp in Inputs) depth[inp.Name] = 0;
        var layerDepth = new List<(GraphNode Node, int Depth)>();
        foreach (var node in _nodes)
        {
            var live = node.Inputs.Where(i => i.Length > 0 && !_constants.ContainsKey(i)).ToList();
            bool isShape = node.OpType is "Shape" or "Size" || (live.Count > 0 && live.All(shapeValues.Contains));
            if (isShape)
            {
                _shapeNodes.Add(node);
                foreach (var o in node.Outputs) if (o.Length > 0) shapeValues.Add(o);
                continue;
            }
            int d = 1 + live.Where(depth.ContainsKey).Select(i => depth[i]).DefaultIfEmpty(0).Max();
            foreach (var o in node.Outputs) if (o.Length > 0) depth[o] = d;
            layerDepth.Add((node, d));
        }
        int maxDepth = Math.Max(1, layerDepth.Select(x => x.Depth).DefaultIfEmpty(1).Max());
        _layers = new List<LayerInfo>();
        int index = 0;
        foreach (var (node, d) in layerDepth)
        {
            long parameters = node.Inputs.Where(i => i.Length > 0 && _constants.TryGetValue(i, out var c) && c.is_floating_point())
                                         .Distinct().Sum(i => _constants[i].numel());
            foreach (var o in node.Outputs)
            {
                if (o.Length == 0) continue;
                var info = new LayerInfo(o, node.OpType, node.Name, index++, d, (double)d / maxDepth, parameters);
                _layers.Add(info);
                _layerByName[o] = info;
            }
        }
    }
}
