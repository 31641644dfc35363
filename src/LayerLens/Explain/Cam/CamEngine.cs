using LayerLens.Classification;
using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>
/// Class activation maps for any graph and any target layer(s). One pass taps the target layers (with gradients when
/// a method needs them) and backpropagates the target score once; each method turns activations and gradients into
/// activation-weighted maps (<see cref="ICamWeights"/>); the engine sums them over channels (or takes their first
/// principal component), applies ReLU, upsamples bilinearly to the input's height × width and rescales each map to
/// [0, 1]. Several layers are averaged after that and rescaled again. ONNX graphs are NCHW; TensorFlow.js graphs
/// take NHWC inputs and have NHWC activations: both are handled. When the class output is a Softmax node, raw scores
/// are the logits that feed it.
/// </summary>
public sealed class CamEngine : ICamEngine
{
    static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal) { "Identity", "Reshape", "Flatten", "Squeeze" };
    static readonly HashSet<string> GlobalPools = new(StringComparer.Ordinal) { "GlobalAveragePool", "ReduceMean", "Mean" };

    readonly ModelGraph _graph;
    readonly LabelSet? _labels;
    readonly bool _nhwc;

    public CamEngine(ModelGraph graph, LabelSet? labels = null)
    {
        _graph = graph ?? throw new ArgumentNullException(nameof(graph));
        _labels = labels;
        _nhwc = graph.Metadata.TryGetValue("layout", out var layout) ? layout == "NHWC" : graph.Format == "tfjs";
    }

    /// <summary>Whether the graph's activations are NHWC (TensorFlow.js) rather than NCHW (ONNX).</summary>
    public bool ChannelsLast => _nhwc;

    /// <summary>
    /// Whether an image batch for this graph is NHWC: the graph's layout metadata when it has one, NHWC for
    /// TensorFlow.js, else from the shape (last dimension 1–4 and the second larger than 4: an ONNX graph exported
    /// from Keras takes NHWC images and transposes them inside).
    /// </summary>
    public bool InputChannelsLast(Tensor input) =>
        _graph.Metadata.TryGetValue("layout", out var layout) ? layout == "NHWC"
        : _graph.Format == "tfjs" || (input.dim() == 4 && input.shape[3] is >= 1 and <= 4 && input.shape[1] > 4);

    /// <summary>The value whose entries are the raw class scores: the input of a Softmax that produces
    /// <paramref name="outputName"/> (through Identity/Reshape/Flatten/Squeeze), else the output itself.</summary>
    public string LogitsOf(string outputName)
    {
        var name = outputName;
        while (true)
        {
            var producer = _graph.Nodes.FirstOrDefault(n => n.Outputs.Contains(name));
            if (producer == null) return outputName;
            if (producer.OpType == "Softmax" && producer.Inputs.Length > 0 && _graph.HasLayer(producer.Inputs[0])) return producer.Inputs[0];
            if (!PassThrough.Contains(producer.OpType) || producer.Inputs.Length == 0) return outputName;
            name = producer.Inputs[0];
        }
    }

    /// <summary>The global-average-pool layer reading <paramref name="layer"/> (CAM needs one).</summary>
    public string PooledLayerOf(string layer) =>
        _graph.Nodes.Where(n => GlobalPools.Contains(n.OpType) && n.Inputs.Length > 0 && n.Inputs[0] == layer && n.Outputs.Length > 0)
                    .Select(n => n.Outputs[0]).FirstOrDefault()
        ?? throw new LayerLensException($"CAM needs layer '{layer}' to feed a global average pool and a linear head; model '{_graph.Name}' has none after it (use Grad-CAM)", ErrorKind.BadInput);

    public CamBatchResult Compute(Tensor input, CamRequest request)
    {
        Validate(input, request);
        using var scope = NewDisposeScope();
        var output = request.OutputName ?? _graph.OutputNames[0];
        if (!_graph.OutputNames.Contains(output))
            throw new LayerLensException($"model '{_graph.Name}' has no output '{output}' (outputs: {string.Join(", ", _graph.OutputNames)})", ErrorKind.BadInput);
        var logitsName = LogitsOf(output);
        var methods = request.Methods.Distinct().ToList();
        var weights = methods.ToDictionary(m => m, CamWeights.For);
        bool inputNhwc = InputChannelsLast(input);
        int height = (int)input.shape[inputNhwc ? 1 : 2], width = (int)input.shape[inputNhwc ? 2 : 3];

        var first = Core(input, request, output, logitsName, weights, null, height, width);
        var classes = first.Classes;
        var probabilities = first.Logits.softmax(1).to_type(ScalarType.Float32).cpu();
        var maps = first.Maps;
        if (request.AugSmooth)
        {
            // As pytorch-grad-cam's aug-smooth (ttach): horizontal flip × multiplying the input by 0.9, 1, 1.1; each
            // map is flipped back, and the six are averaged. The class is the one found on the plain input.
            var sum = maps.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            foreach (bool flip in new[] { false, true })
                foreach (double factor in new[] { 0.9, 1.0, 1.1 })
                {
                    if (!flip && factor == 1.0) continue;
                    using var inner = NewDisposeScope();
                    var x = input.mul(factor);
                    if (flip) x = x.flip(inputNhwc ? 2 : 3);
                    var aug = Core(x, request, output, logitsName, weights, classes, height, width);
                    foreach (var m in methods)
                    {
                        var map = flip ? aug.Maps[m].flip(2) : aug.Maps[m];
                        sum[m].add_(map);
                    }
                }
            maps = sum.ToDictionary(kv => kv.Key, kv => CamMath.Rescale(kv.Value.div(6)));
        }

        int b = (int)input.shape[0];
        var probs = Rows(probabilities, b);
        var result = new Dictionary<CamMethod, float[][]>();
        foreach (var m in methods) result[m] = Rows(maps[m].reshape(b, -1).contiguous().cpu(), b);
        return new CamBatchResult(height, width, probs, classes.Select(c => (int)c).ToArray(), result);
    }

    static float[][] Rows(Tensor t, int b)
    {
        var all = t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        int n = all.Length / Math.Max(1, b);
        return Enumerable.Range(0, b).Select(i => all.AsSpan(i * n, n).ToArray()).ToArray();
    }

    void Validate(Tensor input, CamRequest request)
    {
        if (request.Methods.Count == 0) throw new LayerLensException("no CAM method given", ErrorKind.Usage);
        if (request.Layers.Count == 0) throw new LayerLensException("no target layer given for the CAMs", ErrorKind.Usage);
        if (request.MaskBatchSize < 1) throw new LayerLensException($"mask batch size must be at least 1, got {request.MaskBatchSize}", ErrorKind.Usage);
        foreach (var l in request.Layers) _graph.Layer(l);
        if (input.dim() != 4)
            throw new LayerLensException($"CAM input must be a 4-D image batch, got shape [{string.Join(",", input.shape)}]", ErrorKind.BadInput);
    }

    sealed record CoreResult(Tensor Logits, long[] Classes, Dictionary<CamMethod, Tensor> Maps);

    /// <summary>The tapped pass: activations, logits, target classes and scores, and the gradients methods need.</summary>
    sealed class TappedPass : IDisposable
    {
        public required ForwardResult Run { get; init; }
        public required Tensor Logits { get; init; }
        public required long[] Classes { get; init; }
        public required Tensor ClassTensor { get; init; }
        public required Tensor Score { get; init; }
        public Dictionary<string, Tensor> Gradients { get; } = new();
        public Dictionary<string, Tensor> ClassWeights { get; } = new();
        public void Dispose() => Run.Dispose();
    }

    /// <summary>One forward pass tapping <paramref name="layers"/> (and the pooled layers CAM reads, and the logits
    /// behind a Softmax output), then one backward of the summed target scores to the target layers.</summary>
    TappedPass Forward(Tensor x, IReadOnlyList<string> layers, CamTarget target, CamScore scoreKind, string output, string logitsName,
                       bool needGrad, bool wantCam, long[]? fixedClasses)
    {
        var pooled = wantCam ? layers.ToDictionary(l => l, PooledLayerOf) : new Dictionary<string, string>();
        var taps = layers.Concat(pooled.Values).ToList();
        if (logitsName != output) taps.Add(logitsName);
        var run = RunTapped(x, needGrad, taps.Distinct().ToList());
        try
        {
            long b = x.shape[0];
            var logits = (logitsName != output ? run.Taps[logitsName] : run.Outputs[output]).reshape(b, -1);
            var classes = fixedClasses ?? ResolveTargets(logits, target);
            var classTensor = tensor(classes, dtype: ScalarType.Int64, device: logits.device);
            var pass = new TappedPass { Run = run, Logits = logits, Classes = classes, ClassTensor = classTensor, Score = Score(logits, classTensor, scoreKind) };
            if (!needGrad) return pass;
            IList<Tensor> g;
            try { g = autograd.grad(new[] { pass.Score.sum() }, layers.Select(l => run.Taps[l]).ToList(), retain_graph: wantCam); }
            catch (Exception e) when (e is not LayerLensException)
            {
                throw new LayerLensException($"the target score of output '{output}' cannot be differentiated to layer(s) {string.Join(", ", layers)}: {ModelGraph.FirstLine(e.Message)}", ErrorKind.BadInput, e);
            }
            for (int i = 0; i < layers.Count; i++) pass.Gradients[layers[i]] = ToNchw(g[i].detach(), layers[i]);
            if (wantCam)
            {
                // CAM's weights are the head's matrix row of the class: d logit_c / d pooled_k, exact for a linear head.
                var raw = logits.gather(1, classTensor.unsqueeze(1)).sum();
                var gw = autograd.grad(new[] { raw }, layers.Select(l => run.Taps[pooled[l]]).ToList());
                for (int i = 0; i < layers.Count; i++) pass.ClassWeights[layers[i]] = gw[i].detach().reshape(b, -1);
            }
            return pass;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The tapped pass. Without gradients the graph already runs convolutions channels-last; with them it keeps the
    /// layout it is given, so an NCHW image batch is handed over channels-last in memory (same shape and values):
    /// libtorch's convolutions then skip reordering every activation, and the taps are still the very tensors
    /// autograd saw (strided, which every step here accepts). A graph with a kernel that rejects strided values
    /// runs again with the plain layout.
    /// </summary>
    ForwardResult RunTapped(Tensor x, bool needGrad, IReadOnlyCollection<string> taps)
    {
        var options = new RunOptions { Grad = needGrad, Taps = taps };
        if (!needGrad || InputChannelsLast(x) || x.dim() != 4 || !x.is_floating_point() || _stridedFailed) return _graph.Run(x, options);
        using var channelsLast = ModelGraph.ToChannelsLast(x);
        try { return _graph.Run(channelsLast, options); }
        catch (LayerLensException)
        {
            _stridedFailed = true;
            return _graph.Run(x, options);
        }
    }

    bool _stridedFailed;

    /// <summary>
    /// Activations of <paramref name="layer"/> and the gradients of the target score with respect to them (the
    /// quantities the gradient methods weigh), both NCHW [B, K, h, w] as flat row-major arrays; for inspection and tests.
    /// </summary>
    public (long[] Shape, float[] Activations, float[] Gradients, int[] TargetClass) LayerGradients(
        Tensor input, string layer, CamTarget target, CamScore score = CamScore.Raw, string? outputName = null)
    {
        using var scope = NewDisposeScope();
        _graph.Layer(layer);
        var output = outputName ?? _graph.OutputNames[0];
        using var pass = Forward(input, new[] { layer }, target, score, output, LogitsOf(output), true, false, null);
        var a = ToNchw(pass.Run.Taps[layer].detach(), layer).contiguous();
        var g = pass.Gradients[layer].contiguous();
        return (a.shape.ToArray(), a.data<float>().ToArray(), g.data<float>().ToArray(), pass.Classes.Select(c => (int)c).ToArray());
    }

    /// <summary>One plain pass (plus the masked passes of Score-/Ablation-CAM): maps [B, H, W] per method, rescaled.</summary>
    CoreResult Core(Tensor x, CamRequest request, string output, string logitsName, Dictionary<CamMethod, ICamWeights> weights,
                    long[]? fixedClasses, int height, int width)
    {
        using var scope = NewDisposeScope();
        bool needGrad = weights.Values.Any(w => w.NeedsGradients);
        bool wantCam = weights.ContainsKey(CamMethod.Cam);
        var layers = request.Layers.Distinct().ToList();
        using var pass = Forward(x, layers, request.Target, request.Score, output, logitsName, needGrad, wantCam, fixedClasses);

        var passes = new Passes(this, x, pass.ClassTensor, request, output, logitsName, height, width);
        var targetScores = pass.Score.detach().to_type(ScalarType.Float64);
        var sums = new Dictionary<CamMethod, Tensor>();
        foreach (var layer in layers)
        {
            var a = ToNchw(pass.Run.Taps[layer].detach(), layer);
            var ctx = new CamLayerContext(layer, a, pass.Gradients.GetValueOrDefault(layer), pass.ClassWeights.GetValueOrDefault(layer), targetScores, passes);
            foreach (var (method, w) in weights)
            {
                using var inner = NewDisposeScope();
                var weighted = w.Weighted(ctx);
                var cam = w.AlwaysProject || request.EigenSmooth ? CamMath.Project(weighted) : weighted.sum(1);
                var map = CamMath.Rescale(CamMath.Upsample(cam.relu(), height, width));
                if (sums.TryGetValue(method, out var acc)) acc.add_(map);
                else sums[method] = map.MoveToOuterDisposeScope();
            }
        }
        var maps = sums.ToDictionary(kv => kv.Key,
            kv => (layers.Count > 1 ? CamMath.Rescale(kv.Value.div(layers.Count)) : kv.Value).MoveToOuterDisposeScope());
        return new CoreResult(pass.Logits.detach().clone().MoveToOuterDisposeScope(), pass.Classes, maps);
    }

    /// <summary>Target score per image: the logit of its class, or its softmax probability.</summary>
    static Tensor Score(Tensor logits, Tensor classes, CamScore score)
    {
        var s = score == CamScore.Softmax ? logits.softmax(1) : logits;
        return s.gather(1, classes.unsqueeze(1)).squeeze(1);
    }

    long[] ResolveTargets(Tensor logits, CamTarget target)
    {
        long b = logits.shape[0], c = logits.shape[1];
        switch (target)
        {
            case CamTarget.ClassIndex ci:
                if (ci.Index < 0 || ci.Index >= c)
                    throw new LayerLensException($"target class {ci.Index} is out of range: the model has {c} classes", ErrorKind.Usage);
                return Enumerable.Repeat((long)ci.Index, (int)b).ToArray();
            case CamTarget.ClassName cn:
                if (_labels == null)
                    throw new LayerLensException($"target class '{cn.Name}' needs a label set; give the model's labels", ErrorKind.Usage);
                int idx = Enumerable.Range(0, _labels.Count).FirstOrDefault(i => string.Equals(_labels[i], cn.Name, StringComparison.OrdinalIgnoreCase), -1);
                if (idx < 0)
                    throw new LayerLensException($"label set '{_labels.Name}' has no class '{cn.Name}' (classes: {string.Join(", ", _labels.Names.Take(20))}{(_labels.Count > 20 ? ", ..." : "")})", ErrorKind.Usage);
                if (idx >= c)
                    throw new LayerLensException($"class '{cn.Name}' is number {idx} of label set '{_labels.Name}' but the model has {c} classes", ErrorKind.BadInput);
                return Enumerable.Repeat((long)idx, (int)b).ToArray();
            case CamTarget.Ranked r:
                if (r.Rank < 0 || r.Rank >= c)
                    throw new LayerLensException($"target rank {r.Rank} is out of range: the model has {c} classes", ErrorKind.Usage);
                using (var cpu = logits.detach().to_type(ScalarType.Float64).cpu().contiguous())
                {
                    var v = cpu.data<double>().ToArray();
                    return Enumerable.Range(0, (int)b).Select(i =>
                        (long)Enumerable.Range(0, (int)c).OrderByDescending(j => v[i * c + j]).ThenBy(j => j).ElementAt(r.Rank)).ToArray();
                }
            default:
                throw new LayerLensException($"unknown CAM target {target}", ErrorKind.Usage);
        }
    }

    Tensor ToNchw(Tensor t, string layer)
    {
        if (t.dim() != 4)
            throw new LayerLensException($"layer '{layer}' has shape [{string.Join(",", t.shape)}]; CAMs need a 4-D (image-like) layer", ErrorKind.BadInput);
        return _nhwc ? t.permute(0, 3, 1, 2) : t;
    }

    /// <summary>The masked and ablated passes, batched by the caller; no gradients.</summary>
    sealed class Passes : CamPasses
    {
        readonly CamEngine _e;
        readonly Tensor _x, _classes;
        readonly CamRequest _request;
        readonly string _output, _logits;
        readonly int _h, _w;

        public Passes(CamEngine e, Tensor x, Tensor classes, CamRequest request, string output, string logits, int h, int w)
        {
            (_e, _x, _classes, _request, _output, _logits, _h, _w) = (e, x.detach(), classes, request, output, logits, h, w);
        }

        public override int BatchSize => _request.MaskBatchSize;
        public override (int Height, int Width) InputSize => (_h, _w);

        public override Tensor MaskedScores(Tensor imageIndex, Tensor masks)
        {
            using var scope = NewDisposeScope();
            var xs = _x.index_select(0, imageIndex);
            xs = xs.mul((_e.InputChannelsLast(xs) ? masks.unsqueeze(-1) : masks.unsqueeze(1)).to(xs.dtype));
            return Run(xs, imageIndex, null).MoveToOuterDisposeScope();
        }

        public override Tensor AblatedScores(string layer, Tensor imageIndex, Tensor channelKeep)
        {
            using var scope = NewDisposeScope();
            var xs = _x.index_select(0, imageIndex);
            long n = channelKeep.shape[0], k = channelKeep.shape[1];
            var keep = (_e._nhwc ? channelKeep.reshape(n, 1, 1, k) : channelKeep.reshape(n, k, 1, 1)).to(xs.device);
            var replace = new Dictionary<string, Func<Tensor, Tensor>> { [layer] = v => v.mul(keep.to(v.dtype)) };
            return Run(xs, imageIndex, replace).MoveToOuterDisposeScope();
        }

        Tensor Run(Tensor xs, Tensor imageIndex, Dictionary<string, Func<Tensor, Tensor>>? replace)
        {
            var taps = _logits != _output ? new[] { _logits } : Array.Empty<string>();
            using var run = _e._graph.Run(xs, new RunOptions { Taps = taps, Replace = replace, CheckFinite = false });
            var logits = (_logits != _output ? run.Taps[_logits] : run.Outputs[_output]).reshape(xs.shape[0], -1);
            return Score(logits, _classes.index_select(0, imageIndex.to(_classes.device)), _request.Score).to_type(ScalarType.Float64);
        }
    }
}
