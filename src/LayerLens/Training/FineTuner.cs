using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LayerLens.Models;
using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Training;

/// <summary>Images and targets for training: raw RGB in [0, 1], NCHW; targets float [n] or class indices int64 [n].</summary>
public interface ITrainingData
{
    int Count { get; }
    (Tensor Images, Tensor Targets) Batch(IReadOnlyList<int> indices);
}

/// <summary>Training data held as two tensors.</summary>
public sealed class InMemoryTrainingData(Tensor images, Tensor targets) : ITrainingData
{
    public int Count => (int)images.shape[0];

    public (Tensor Images, Tensor Targets) Batch(IReadOnlyList<int> indices)
    {
        using var idx = torch.tensor(indices.Select(i => (long)i).ToArray(), dtype: ScalarType.Int64);
        return (images.index_select(0, idx), targets.index_select(0, idx));
    }
}

/// <summary>One epoch of a fine-tuning run, as written to metrics.csv. <paramref name="Seconds"/> is the whole epoch;
/// <paramref name="TrainSeconds"/> only its training steps (no validation, no checkpoint), for throughput.</summary>
public sealed record EpochMetrics(int Epoch, double LearningRate, double TrainLoss, string Metric, double ValidationScore, double Seconds, bool Best,
    double TrainSeconds = 0);

/// <summary>
/// Fine-tunes an imported model for a target: a new linear head on a chosen layer (the penultimate by default),
/// trained with the network's own weights frozen, partly or wholly trainable. Each epoch ends with a
/// validation score, an atomic checkpoint (weights, head, optimiser, epoch) from which a killed run resumes
/// to the same weights, and early stopping on the best score.
/// </summary>
public sealed class FineTuner : IDisposable
{
    readonly ModelGraph _graph;
    readonly FineTuneOptions _o;
    readonly Func<Tensor, Tensor> _preprocess;
    readonly Dictionary<string, Tensor> _trainable;
    Tensor _w;
    Tensor _b;
    double _targetMean, _targetStd = 1;
    readonly bool _channelsLast;

    public FineTuner(ModelGraph graph, FineTuneOptions options, Func<Tensor, Tensor>? preprocess = null)
    {
        options.Validate();
        _graph = graph;
        _o = options;
        _preprocess = preprocess ?? (x => x);
        FeatureLayer = options.FeatureLayer ?? PenultimateLayer(graph);
        if (!graph.HasLayer(FeatureLayer))
            throw new LayerLensException($"model '{graph.Name}' has no layer '{FeatureLayer}' to fine-tune from", ErrorKind.BadInput);
        _trainable = SelectTrainable(graph, FeatureLayer, options.TrainLayers);
        _channelsLast = FeedsChannelsLast(graph);
        FeatureSize = ProbeFeatureSize();
        int outputs = options.Head == HeadKind.Classes ? options.Classes : 1;
        var g = new Generator((ulong)options.Seed);
        double bound = 1 / Math.Sqrt(FeatureSize);
        _w = (torch.rand(new long[] { outputs, FeatureSize }, generator: g) * 2 * bound - bound).requires_grad_(true);
        _b = (torch.rand(new long[] { outputs }, generator: g) * 2 * bound - bound).requires_grad_(true);
    }

    /// <summary>The layer feeding the head.</summary>
    public string FeatureLayer { get; }
    public long FeatureSize { get; }
    /// <summary>Rank of the feature layer's activation (4 for feature maps, which the head averages over space).</summary>
    public int FeatureRank { get; private set; }
    public FineTuneOptions Options => _o;
    /// <summary>Names of the network's own tensors that training changes.</summary>
    public IReadOnlyCollection<string> TrainedParameters => _trainable.Keys;

    /// <summary>Head weights on the target's own scale (standardisation folded in): [outputs, features], [outputs].</summary>
    public (Tensor Weight, Tensor Bias) Head()
    {
        using var noGrad = torch.no_grad();
        if (_o.Head == HeadKind.Classes) return (_w.detach().clone(), _b.detach().clone());
        return ((_w * _targetStd).detach().clone(), (_b * _targetStd + _targetMean).detach().clone());
    }

    /// <summary>The penultimate layer: what the last weighted operator before the first output reads.</summary>
    public static string PenultimateLayer(ModelGraph graph)
    {
        var producers = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes) foreach (var o in n.Outputs) if (o.Length > 0) producers[o] = n;
        var value = graph.OutputNames[0];
        for (int guard = 0; guard < 64 && producers.TryGetValue(value, out var node); guard++)
        {
            var live = node.Inputs.Where(i => i.Length > 0 && !graph.Constants.ContainsKey(i)).ToList();
            bool weighted = node.Inputs.Any(i => graph.Constants.TryGetValue(i, out var c) && c.is_floating_point() && c.numel() > 1);
            if (live.Count == 0) break;
            if (weighted && graph.HasLayer(live[0])) return live[0];
            value = live[0];
        }
        var deepest = graph.Layers.Where(l => l.RelativeDepth < 1).OrderByDescending(l => l.DepthIndex).FirstOrDefault();
        return deepest?.Name ?? throw new LayerLensException($"model '{graph.Name}' has no layer before its output", ErrorKind.BadInput);
    }

    public List<EpochMetrics> Fit(ITrainingData train, ITrainingData validation, string checkpointDir,
        IProgress<string>? progress = null, CancellationToken cancel = default)
    {
        if (train.Count < 2) throw new LayerLensException("training needs at least 2 images", ErrorKind.BadInput);
        if (validation.Count < 2) throw new LayerLensException("validation needs at least 2 images", ErrorKind.BadInput);
        Directory.CreateDirectory(checkpointDir);
        var lastPath = Path.Combine(checkpointDir, "last.ckpt");
        var bestPath = Path.Combine(checkpointDir, "best.ckpt");
        if (_o.Head == HeadKind.Regression) StandardiseTargets(train);

        var parameters = _trainable.ToDictionary(kv => kv.Key, kv => (kv.Value, _o.BackboneLearningRateScale), StringComparer.Ordinal);
        parameters["head.weight"] = (_w, 1.0);
        parameters["head.bias"] = (_b, 1.0);
        using var optimizer = new Optimizer(_o, parameters);
        var history = new List<EpochMetrics>();
        int start = 0;
        double best = double.NegativeInfinity;
        int sinceBest = 0;
        if (File.Exists(lastPath))
        {
            (start, best, sinceBest, history) = Resume(lastPath, optimizer);
            progress?.Report($"resuming after epoch {start} from {lastPath}");
        }
        foreach (var t in _trainable.Values) t.requires_grad_(true);
        try
        {
            for (int epoch = start; epoch < _o.Epochs; epoch++)
            {
                cancel.ThrowIfCancellationRequested();
                var clock = Stopwatch.StartNew();
                double lr = LearningRateSchedule.At(_o, epoch);
                double loss = TrainEpoch(train, optimizer, epoch, lr, progress, cancel);
                double trainSeconds = clock.Elapsed.TotalSeconds;
                double score = Evaluate(validation);
                bool improved = score > best;
                if (improved) { best = score; sinceBest = 0; } else sinceBest++;
                var m = new EpochMetrics(epoch + 1, lr, loss, MetricName, score, clock.Elapsed.TotalSeconds, improved, trainSeconds);
                history.Add(m);
                SaveCheckpoint(lastPath, optimizer, epoch + 1, best, sinceBest, history);
                if (improved) File.Copy(lastPath, bestPath, overwrite: true);
                progress?.Report($"epoch {m.Epoch}/{_o.Epochs}  loss {loss:0.0000}  val {MetricName} {score:0.0000}{(improved ? "  (best)" : "")}  lr {lr:0.######}");
                if (_o.StopAfterEpoch == epoch + 1) break;
                if (_o.Patience > 0 && sinceBest >= _o.Patience)
                {
                    progress?.Report($"early stop: no better {MetricName} for {_o.Patience} epochs");
                    break;
                }
            }
        }
        finally
        {
            foreach (var t in _trainable.Values) t.requires_grad_(false);
        }
        return history;
    }

    /// <summary>Loads the best checkpoint's weights and head into the graph and this tuner.</summary>
    public void LoadBest(string checkpointDir)
    {
        var path = Path.Combine(checkpointDir, "best.ckpt");
        if (!File.Exists(path)) throw new LayerLensException($"{path}: no best checkpoint was written", ErrorKind.BadInput);
        var (tensors, record) = Checkpoint.Load(path);
        ApplyWeights(tensors, record);
        foreach (var t in tensors.Values) t.Dispose();
    }

    public string MetricName => _o.Head == HeadKind.Classes ? "accuracy" : "spearman";

    /// <summary>Spearman ρ (regression) or accuracy (classes) on <paramref name="data"/>.</summary>
    public double Evaluate(ITrainingData data)
    {
        var (pred, target) = PredictAll(data);
        if (_o.Head == HeadKind.Classes)
            return pred.Zip(target).Count(p => p.First == p.Second) / (double)pred.Length;
        return Stats.Correlation.Spearman(pred, target, "validation predictions");
    }

    /// <summary>Predictions (target scale for regression, class index for classes) and targets, in data order.</summary>
    public (double[] Predictions, double[] Targets) PredictAll(ITrainingData data)
    {
        var preds = new List<double>();
        var targets = new List<double>();
        for (int start = 0; start < data.Count; start += _o.BatchSize)
        {
            using var scope = torch.NewDisposeScope();
            var idx = Enumerable.Range(start, Math.Min(_o.BatchSize, data.Count - start)).ToList();
            var (images, t) = data.Batch(idx);
            using var noGrad = torch.no_grad();
            var output = Forward(_preprocess(images), training: false, null);
            if (_o.Head == HeadKind.Classes) preds.AddRange(output.argmax(1).data<long>().ToArray().Select(v => (double)v));
            else preds.AddRange((output.flatten() * _targetStd + _targetMean).to_type(ScalarType.Float64).data<double>().ToArray());
            targets.AddRange(t.to_type(ScalarType.Float64).data<double>().ToArray());
        }
        return (preds.ToArray(), targets.ToArray());
    }

    /// <summary>
    /// The head's outputs for a batch of raw images (RGB in [0, 1], NCHW; preprocessed as in training): class logits
    /// [n, classes], or predictions on the target's scale [n, 1]. These are the values a saved model's head output holds.
    /// </summary>
    public Tensor Outputs(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var output = Forward(_preprocess(images), training: false, null);
        if (_o.Head == HeadKind.Regression) output = output * _targetStd + _targetMean;
        return output.detach().MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _w.Dispose();
        _b.Dispose();
    }

    // ---- internals ----

    double TrainEpoch(ITrainingData train, Optimizer optimizer, int epoch, double lr, IProgress<string>? progress, CancellationToken cancel)
    {
        var rng = new Random(unchecked((int)(_o.Seed * 1000003 + epoch)));
        var order = Enumerable.Range(0, train.Count).OrderBy(_ => rng.Next()).ToList();
        var g = new Generator((ulong)(_o.Seed * 7919 + epoch + 1));
        double total = 0;
        int batches = 0;
        for (int start = 0; start < order.Count; start += _o.BatchSize)
        {
            cancel.ThrowIfCancellationRequested();
            var idx = order.Skip(start).Take(_o.BatchSize).ToList();
            if (idx.Count < 2 && _o.Loss == LossKind.Rank) continue;
            using var scope = torch.NewDisposeScope();
            var (images, targets) = train.Batch(idx);
            var x = _preprocess(Augmenter.Apply(images, _o.Augment, g));
            optimizer.ZeroGrad();
            using (KernelContext.BatchNormUpdates(_o.UpdateBatchNorm))
            {
                var output = Forward(x, training: true, g);
                Tensor loss;
                if (_o.Head == HeadKind.Classes) loss = Losses.Compute(_o, output, targets.to_type(ScalarType.Int64));
                else loss = Losses.Compute(_o, output.flatten(), (targets.to_type(ScalarType.Float32) - _targetMean) / _targetStd);
                loss.backward();
                total += loss.ToDouble();
            }
            if (_o.ClipNorm is { } clip) optimizer.ClipGradients(clip);
            optimizer.Update(lr);
            batches++;
        }
        return batches == 0 ? double.NaN : total / batches;
    }

    Tensor Forward(Tensor x, bool training, Generator? g)
    {
        bool grad = training && _trainable.Count > 0;
        // With gradients the engine keeps the layout it is given; a channels-last batch lets libtorch's oneDNN
        // convolutions skip reordering every activation, forward and backward (about 15 % of a ResNet step).
        // Without gradients the engine chooses channels-last itself.
        if (grad && _channelsLast && x.dim() == 4 && x.is_floating_point())
            x = ModelGraph.ToChannelsLast(x);
        using var result = _graph.Run(x, new RunOptions { Taps = new[] { FeatureLayer }, Grad = grad, CheckFinite = false });
        var f = Pool(result.Taps[FeatureLayer]);
        if (training && _o.Dropout > 0 && g is not null)
        {
            var keep = torch.rand(f.shape, generator: g) >= _o.Dropout;
            f = f * keep.to_type(f.dtype) / (1 - _o.Dropout);
        }
        return torch.nn.functional.linear(f, _w, _b);
    }

    /// <summary>Feature maps are averaged over space (NCHW dims 2.., NHWC dims 1..rank-2) to one vector per image.</summary>
    Tensor Pool(Tensor f)
    {
        if (f.dim() == 2) return f.alias();
        bool nhwc = _graph.Metadata.TryGetValue("layout", out var layout) && layout == "NHWC";
        var dims = nhwc ? Enumerable.Range(1, (int)f.dim() - 2) : Enumerable.Range(2, (int)f.dim() - 2);
        return f.mean(dims.Select(d => (long)d).ToArray());
    }

    /// <summary>An NCHW image model whose single input only feeds convolutions: it can be fed channels-last.</summary>
    static bool FeedsChannelsLast(ModelGraph graph)
    {
        if (graph.Inputs.Count != 1 || graph.Inputs[0].Shape.Length != 4) return false;
        if (graph.Metadata.TryGetValue("layout", out var layout) && layout == "NHWC") return false;
        var name = graph.Inputs[0].Name;
        var readers = graph.Nodes.Where(n => n.Inputs.Contains(name)).ToList();
        return readers.Count > 0 && readers.All(n => n.OpType == "Conv");
    }

    long ProbeFeatureSize()
    {
        using var scope = torch.NewDisposeScope();
        var shapes = _graph.InputShapesFor(64, 64);
        if (_graph.Layers[0].OutputShape is not null && _graph.Inputs.All(i => i.Shape.Skip(1).All(d => d > 0)))
            shapes = _graph.Inputs.ToDictionary(i => i.Name, i => i.Shape.Select((d, k) => k == 0 ? 1L : d).ToArray());
        var feeds = shapes.ToDictionary(kv => kv.Key, kv => torch.zeros(kv.Value));
        using var r = _graph.Run(feeds, new RunOptions { Taps = new[] { FeatureLayer }, CheckFinite = false });
        FeatureRank = (int)r.Taps[FeatureLayer].dim();
        return Pool(r.Taps[FeatureLayer]).shape[1];
    }

    static Dictionary<string, Tensor> SelectTrainable(ModelGraph graph, string featureLayer, TrainLayers which)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (which.Kind == "head") return result;
        var producers = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes) foreach (var o in n.Outputs) if (o.Length > 0) producers[o] = n;
        var ancestors = new List<GraphNode>();
        var seen = new HashSet<GraphNode>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<string>();
        stack.Push(featureLayer);
        while (stack.Count > 0)
        {
            if (!producers.TryGetValue(stack.Pop(), out var node) || !seen.Add(node)) continue;
            ancestors.Add(node);
            foreach (var i in node.Inputs) if (i.Length > 0) stack.Push(i);
        }
        var weighted = ancestors
            .Where(n => n.Inputs.Any(i => graph.Constants.TryGetValue(i, out var c) && c.is_floating_point()))
            .OrderByDescending(n => n.Outputs.Where(graph.HasLayer).Select(o => graph.Layer(o).DepthIndex).DefaultIfEmpty(0).Max())
            .ToList();
        if (which.Kind == "last") weighted = weighted.Take(which.K).ToList();
        foreach (var n in weighted)
            foreach (var i in n.Inputs)
                if (i.Length > 0 && graph.Constants.TryGetValue(i, out var c) && c.is_floating_point() && n.OpType != "BatchNormalization")
                    result[i] = c;
                else if (n.OpType == "BatchNormalization" && (i == n.Inputs[1] || i == n.Inputs[2]) && graph.Constants.TryGetValue(i, out var bn))
                    result[i] = bn; // scale and bias train; running statistics only move with UpdateBatchNorm
        return result;
    }

    void StandardiseTargets(ITrainingData train)
    {
        var all = new List<double>();
        for (int start = 0; start < train.Count; start += 256)
        {
            using var scope = torch.NewDisposeScope();
            var (_, t) = train.Batch(Enumerable.Range(start, Math.Min(256, train.Count - start)).ToList());
            all.AddRange(t.to_type(ScalarType.Float64).data<double>().ToArray());
        }
        if (all.Any(v => !double.IsFinite(v))) throw new LayerLensException("training targets contain NaN or infinite values", ErrorKind.BadInput);
        _targetMean = all.Average();
        double sd = Math.Sqrt(all.Sum(v => (v - _targetMean) * (v - _targetMean)) / all.Count);
        if (sd == 0) throw new LayerLensException("training targets are constant; there is nothing to learn", ErrorKind.BadInput);
        _targetStd = sd;
    }

    IReadOnlyDictionary<string, Tensor> WeightsToSave()
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal) { ["head.weight"] = _w, ["head.bias"] = _b };
        foreach (var (k, v) in _trainable) d["graph." + k] = v;
        if (_o.UpdateBatchNorm)
            foreach (var n in _graph.Nodes.Where(n => n.OpType == "BatchNormalization"))
                foreach (var i in n.Inputs.Skip(3).Take(2))
                    if (_graph.Constants.TryGetValue(i, out var c)) d["graph." + i] = c;
        return d;
    }

    void SaveCheckpoint(string path, Optimizer optimizer, int epoch, double best, int sinceBest, List<EpochMetrics> history)
    {
        var tensors = new Dictionary<string, Tensor>(WeightsToSave(), StringComparer.Ordinal);
        foreach (var (k, v) in optimizer.State) tensors["optim." + k] = v;
        var inv = CultureInfo.InvariantCulture;
        var record = new Dictionary<string, string>
        {
            ["epoch"] = epoch.ToString(inv),
            ["step"] = optimizer.Step.ToString(inv),
            ["best"] = best.ToString("R", inv),
            ["since_best"] = sinceBest.ToString(inv),
            ["target_mean"] = _targetMean.ToString("R", inv),
            ["target_std"] = _targetStd.ToString("R", inv),
            ["feature_layer"] = FeatureLayer,
            ["options"] = Fingerprint(),
            ["history"] = JsonSerializer.Serialize(history),
        };
        Checkpoint.Save(path, tensors, record);
    }

    (int Epoch, double Best, int SinceBest, List<EpochMetrics> History) Resume(string path, Optimizer optimizer)
    {
        var (tensors, record) = Checkpoint.Load(path);
        try
        {
            if (record.GetValueOrDefault("options") != Fingerprint())
                throw new LayerLensException($"{path}: the checkpoint was made with other options; use another --out folder or the same options", ErrorKind.BadInput);
            ApplyWeights(tensors, record);
            var inv = CultureInfo.InvariantCulture;
            optimizer.Restore(tensors.Where(kv => kv.Key.StartsWith("optim.", StringComparison.Ordinal))
                                     .ToDictionary(kv => kv.Key["optim.".Length..], kv => kv.Value), long.Parse(record["step"], inv));
            var history = JsonSerializer.Deserialize<List<EpochMetrics>>(record["history"]) ?? new();
            return (int.Parse(record["epoch"], inv), double.Parse(record["best"], inv), int.Parse(record["since_best"], inv), history);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    void ApplyWeights(Dictionary<string, Tensor> tensors, Dictionary<string, string> record)
    {
        using var noGrad = torch.no_grad();
        _w.copy_(tensors["head.weight"]);
        _b.copy_(tensors["head.bias"]);
        foreach (var (k, v) in tensors)
            if (k.StartsWith("graph.", StringComparison.Ordinal) && _graph.Constants.TryGetValue(k["graph.".Length..], out var c))
                c.copy_(v);
        var inv = CultureInfo.InvariantCulture;
        _targetMean = double.Parse(record["target_mean"], inv);
        _targetStd = double.Parse(record["target_std"], inv);
    }

    /// <summary>What must match for a checkpoint to be resumed: every option but the stop point.</summary>
    string Fingerprint() => JsonSerializer.Serialize(_o with { StopAfterEpoch = null }) + "|" + FeatureLayer + "|" + _graph.Name;
}
