using System.Diagnostics;
using System.Threading.Channels;
using LayerLens.Datasets;
using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Models.Engine;
using LayerLens.Preprocessing;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Features;

/// <summary>What to extract and how.</summary>
public sealed record ExtractionOptions
{
    public string LayerSelector { get; init; } = "all";
    public string Reducer { get; init; } = "gap";
    public long Seed { get; init; }
    public int BatchSize { get; init; } = 32;
    /// <summary>Decoding/preprocessing workers and libtorch threads (0: processor count).</summary>
    public int Threads { get; init; }
    /// <summary>Skip (and count) unreadable images instead of stopping.</summary>
    public bool SkipBadImages { get; init; }
    public PreprocessingSpec Preprocessing { get; init; } = PreprocessingSpec.FromPreset("imagenet");
    /// <summary>Reference images a PCA reducer is fitted on.</summary>
    public ImageDataset? PcaReference { get; init; }
    /// <summary>Upper bound for one block's feature buffer; blocks are the unit of resumption. The buffer is the one
    /// part of extraction's memory that grows with the image count (up to this bound), so it is kept well below the
    /// runtime's own footprint: peak RSS for 10,000 images then stays within 1.2× of that for 1,000.</summary>
    public long BlockBudgetBytes { get; init; } = 16L << 20;
    /// <summary>Upper bound for the reference activations held while fitting PCA.</summary>
    public long PcaBudgetBytes { get; init; } = 2L << 30;
    /// <summary>Store features as float16 (half the size; about 3 significant digits).</summary>
    public bool Float16 { get; init; }
    /// <summary>Rows per block (a multiple of the batch size); 0 chooses from the budget.</summary>
    public int BlockRows { get; init; }
}

/// <summary>Progress of a running extraction, for progress bars and log lines.</summary>
public readonly record struct ExtractionProgress(int Done, int Total, double ImagesPerSecond, TimeSpan? Eta, string Stage);

/// <summary>What a run did.</summary>
public sealed record ExtractionSummary(
    string Output, int Images, int Extracted, IReadOnlyList<SkippedImage> Skipped, int Layers,
    int Blocks, int BlocksResumed, bool AlreadyComplete, TimeSpan Elapsed);

/// <summary>
/// All-layer feature extraction: one forward pass per batch taps every selected layer, each tap is
/// reduced at once (the activation is freed before the next layer), and finished blocks of rows go to
/// shard files that are assembled into the HDF5 store at the end. A killed run resumes from its
/// shards; decoding and preprocessing run ahead of the model on worker threads.
/// </summary>
public static class FeatureExtractor
{
    /// <summary>The folder next to the store where unfinished runs keep their shards.</summary>
    public static string PartsDir(string output) => output + ".parts";

    public static ExtractionSummary Run(ModelGraph graph, string modelPath, ImageDataset dataset, string output, ExtractionOptions options,
        IProgress<ExtractionProgress>? progress = null, CancellationToken cancel = default)
    {
        MallocArenas.Limit();
        Native.TorchRuntime.EnsureLoaded();
        var clock = Stopwatch.StartNew();
        if (options.BatchSize <= 0) throw new LayerLensException($"--batch {options.BatchSize}: must be positive", ErrorKind.Usage);
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        torch.set_num_threads(threads);

        var reducer = FeatureReducer.Parse(options.Reducer, options.Seed);
        var selector = LayerSelector.Parse(options.LayerSelector);
        var layers = selector.Select(graph.Layers);
        if (layers.Count == 0) throw new LayerLensException($"--layers '{options.LayerSelector}' selects no layer of {graph.Name}", ErrorKind.Usage);
        using var pre = new ImagePreprocessor(options.Preprocessing);

        var provenance = new FeatureProvenance
        {
            Model = Path.GetFileName(modelPath),
            ModelSha256 = File.Exists(modelPath) ? FeatureProvenance.FileSha256(modelPath) : FeatureProvenance.Sha256Hex(new[] { modelPath }),
            Preprocessing = options.Preprocessing.ToJson(),
            Reducer = reducer.Spec,
            Seed = options.Seed,
            LayerSelector = selector.Text,
            Layers = layers.Select(l => l.Name).ToArray(),
            Dataset = dataset.Source,
            ImageCount = dataset.Count,
            IdsSha256 = FeatureProvenance.Sha256Hex(dataset.Items.Select(i => i.Id)),
            DType = options.Float16 ? "float16" : "float32",
            PcaReferenceCount = reducer.NeedsFit ? options.PcaReference?.Count ?? 0 : 0,
            PcaReferenceIdsSha256 = reducer.NeedsFit && options.PcaReference != null ? FeatureProvenance.Sha256Hex(options.PcaReference.Items.Select(i => i.Id)) : "",
        };

        if (File.Exists(output))
        {
            var existing = FeatureStore.Open(output);
            var diff = provenance.Difference(existing.Provenance);
            if (diff != null)
                throw new LayerLensException($"{output}: already holds features computed differently ({diff}); choose another --out or delete it", ErrorKind.BadInput);
            return new ExtractionSummary(output, dataset.Count, existing.Ids.Count, Array.Empty<SkippedImage>(), existing.Layers.Count, 0, 0, true, clock.Elapsed);
        }

        // Shapes at the preprocessed size, for the layer attributes and to size blocks.
        var first = TryDecodeFirst(dataset.Items[0], options.SkipBadImages);
        var (oh, ow) = first == null ? (224, 224) : options.Preprocessing.OutputSize(first.Height, first.Width);
        var shapes = graph.InferShapes(graph.InputShapesFor(oh, ow)).ToDictionary(l => l.Name);
        var layerInfo = layers.ToDictionary(l => l.Name, l => shapes.TryGetValue(l.Name, out var s) ? s : l);

        var parts = PartsDir(output);
        var runFile = Path.Combine(parts, "run.json");
        // A graph exported with a fixed batch of 1 (TF.js detectors often are) takes one image per pass.
        int batch = Math.Min(options.BatchSize, graph.MaxBatch);
        int blockRows;
        if (File.Exists(runFile))
        {
            var run = System.Text.Json.JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(runFile))
                ?? throw new LayerLensException($"{runFile}: empty run record", ErrorKind.BadInput);
            var diff = provenance.Difference(run.Provenance);
            if (diff != null)
                throw new LayerLensException($"{parts}: an unfinished run with different settings is there ({diff}); delete that folder or use another --out", ErrorKind.BadInput);
            // Batch composition can change the last bits of convolution results; resume with the original layout.
            batch = run.BatchSize;
            blockRows = run.BlockRows;
        }
        else
        {
            long bytesPerImage = Math.Max(4, layers.Sum(l => 4L * EstimateDim(reducer, layerInfo[l.Name])));
            blockRows = options.BlockRows > 0 ? options.BlockRows : (int)Math.Clamp(options.BlockBudgetBytes / bytesPerImage, 1, 4096);
            blockRows = Math.Max(batch, blockRows / batch * batch);
            Directory.CreateDirectory(parts);
            WriteAtomic(runFile, System.Text.Json.JsonSerializer.Serialize(new RunRecord(provenance, batch, blockRows)));
        }
        foreach (var stale in Directory.EnumerateFiles(parts, "*.tmp-*")) TryDelete(stale);
        // A store assembly killed half-way leaves its temporary file beside the output.
        var outDir = Path.GetDirectoryName(Path.GetFullPath(output))!;
        foreach (var stale in Directory.EnumerateFiles(outDir, $".{Path.GetFileName(output)}.tmp-*")) TryDelete(stale);

        int blocks = (dataset.Count + blockRows - 1) / blockRows;
        var done = Enumerable.Range(0, blocks).Where(b => File.Exists(Path.Combine(parts, FeatureShard.FileName(b)))).ToHashSet();
        int resumed = done.Count;
        var todo = Enumerable.Range(0, blocks).Where(b => !done.Contains(b)).ToList();
        int total = dataset.Count;
        int doneImages = done.Sum(b => Math.Min(blockRows, total - b * blockRows));

        if (todo.Count > 0 && reducer is PcaReducer pca)
            FitPca(graph, pca, layers, layerInfo, pre, options, batch, progress, cancel);

        if (todo.Count > 0)
        {
            var items = todo.SelectMany(b => Enumerable.Range(b * blockRows, Math.Min(blockRows, total - b * blockRows))).ToList();
            using var feed = new PrefetchFeed(dataset.Items, items, pre, threads, batch * 2 + threads, cancel);
            var rate = Stopwatch.StartNew();
            int doneThisRun = 0;
            // One buffer for every block: a fresh one per block would leave the previous block's arrays to the
            // garbage collector and hold two blocks at a time.
            var block = new BlockBuffer(layers, Math.Min(blockRows, total));
            foreach (var b in todo)
            {
                cancel.ThrowIfCancellationRequested();
                int start = b * blockRows, count = Math.Min(blockRows, total - start);
                block.Reset();
                var ids = new List<string>(count);
                var skipped = new List<SkippedImage>();
                for (int off = 0; off < count; off += batch)
                {
                    int n = Math.Min(batch, count - off);
                    var tensors = new List<Tensor>(n);
                    var sources = new List<string>(n);
                    try
                    {
                        for (int k = 0; k < n; k++)
                        {
                            var prepared = feed.Next();
                            var item = dataset.Items[prepared.Index];
                            if (prepared.Error != null)
                            {
                                if (!options.SkipBadImages) throw prepared.Error;
                                skipped.Add(new SkippedImage(item.Id, prepared.Error.Message));
                                continue;
                            }
                            tensors.Add(prepared.Tensor!);
                            sources.Add(item.Path);
                            ids.Add(item.Id);
                        }
                        if (tensors.Count > 0) RunBatch(graph, reducer, layers, tensors, sources, block);
                    }
                    finally
                    {
                        foreach (var t in tensors) t.Dispose();
                    }
                    doneThisRun += n;
                    double ips = doneThisRun / Math.Max(1e-9, rate.Elapsed.TotalSeconds);
                    int doneNow = doneImages + doneThisRun;
                    progress?.Report(new ExtractionProgress(doneNow, total, ips, ips > 0 ? TimeSpan.FromSeconds((total - doneNow) / ips) : null, "extract"));
                }
                var header = new FeatureShard.Header(b, ids.ToArray(), skipped.ToArray(), block.Describe(ids.Count));
                FeatureShard.Write(Path.Combine(parts, FeatureShard.FileName(b)), header, block.Data);
            }
        }

        // The block buffer is garbage now; return it before assembly allocates its own (one collection per run).
        GC.Collect();
        progress?.Report(new ExtractionProgress(total, total, 0, TimeSpan.Zero, "assemble"));
        var shardPaths = Enumerable.Range(0, blocks).Select(b => Path.Combine(parts, FeatureShard.FileName(b))).ToList();
        var allSkipped = shardPaths.SelectMany(p => FeatureShard.ReadHeader(p).Skipped).ToList();
        FeatureStore.Assemble(output, provenance, shardPaths, layerInfo, reducer.Spec);
        Directory.Delete(parts, recursive: true);
        return new ExtractionSummary(output, total, total - allSkipped.Count, allSkipped, layers.Count, blocks, resumed, false, clock.Elapsed);
    }

    sealed record RunRecord(FeatureProvenance Provenance, int BatchSize, int BlockRows);

    static RgbImage? TryDecodeFirst(ImageItem item, bool skip)
    {
        try { return ImageDecoder.Decode(item.Path); }
        catch (LayerLensException) when (skip) { return null; }
    }

    static long EstimateDim(FeatureReducer reducer, LayerInfo layer)
    {
        var shape = layer.OutputShape;
        if (shape == null || shape.Length == 0) return 1;
        long features = shape.Skip(1).Aggregate(1L, (a, b) => a * Math.Max(1, b));
        long channels = shape.Length > 1 ? shape[1] : 1;
        var spec = reducer.Spec;
        if (spec == "none") return features;
        if (spec is "gap" or "gmp") return shape.Length > 2 ? channels : features;
        if (spec == "stats") return shape.Length > 2 ? 2 * channels : features;
        if (spec.StartsWith("grid:", StringComparison.Ordinal)) { long k = long.Parse(spec[5..]); return shape.Length == 4 ? channels * k * k : features; }
        if (spec.StartsWith("rp:", StringComparison.Ordinal)) return long.Parse(spec[3..]);
        if (spec.StartsWith("pca:", StringComparison.Ordinal)) return Math.Min(features, long.Parse(spec[4..]));
        if (spec is "cls" or "mean") return shape.Length == 3 ? shape[2] : features;
        return features;
    }

    static void RunBatch(ModelGraph graph, FeatureReducer reducer, IReadOnlyList<LayerInfo> layers, List<Tensor> tensors, List<string> sources, BlockBuffer block)
    {
        using var scope = NewDisposeScope();
        var x = ImagePreprocessor.Stack(tensors, sources);
        if (graph.Device != Models.ComputeDevice.Cpu) x = x.to(graph.Device.ToTorch());
        var names = layers.Select(l => l.Name).ToArray();
        using var result = graph.Run(x, new RunOptions
        {
            Taps = names,
            KeepTaps = false,
            OnTap = (layer, act) =>
            {
                using var inner = NewDisposeScope();
                block.RecordShape(layer.Name, act.shape.Skip(1).ToArray());
                // Reducers pool over the spatial axes of [N, C, H, W]; channels-last maps (TF.js graphs) are viewed so.
                var r = reducer.Reduce(layer.Name, graph.ChannelsFirst(act));
                block.Append(layer.Name, r);
            },
        });
    }

    static void FitPca(ModelGraph graph, PcaReducer pca, IReadOnlyList<LayerInfo> layers, IReadOnlyDictionary<string, LayerInfo> info,
        ImagePreprocessor pre, ExtractionOptions options, int batch, IProgress<ExtractionProgress>? progress, CancellationToken cancel)
    {
        var reference = options.PcaReference
            ?? throw new LayerLensException("reducer pca needs a reference image set (--pca-reference DIR|MANIFEST)", ErrorKind.Usage);
        int nref = reference.Count;
        long Features(LayerInfo l) => info[l.Name].OutputShape?.Skip(1).Aggregate(1L, (a, b) => a * b) ?? 0;
        var toFit = layers.Where(l => pca.Projects(Features(l))).ToList();
        // Layers are fitted in groups whose reference activations fit the budget; one pass over the reference set per group.
        var groups = new List<List<LayerInfo>>();
        long used = long.MaxValue;
        foreach (var l in toFit)
        {
            long bytes = 4L * nref * Features(l);
            if (groups.Count == 0 || used + bytes > options.PcaBudgetBytes) { groups.Add(new()); used = 0; }
            groups[^1].Add(l);
            used += bytes;
        }
        int g = 0;
        foreach (var group in groups)
        {
            g++;
            var collected = group.ToDictionary(l => l.Name, _ => new List<Tensor>());
            try
            {
                for (int off = 0; off < nref; off += batch)
                {
                    cancel.ThrowIfCancellationRequested();
                    var items = reference.Items.Skip(off).Take(batch).ToList();
                    var tensors = items.Select(it => pre.Apply(ImageDecoder.Decode(it.Path))).ToList();
                    try
                    {
                        using var scope = NewDisposeScope();
                        var x = ImagePreprocessor.Stack(tensors, items.Select(i => i.Path).ToList());
                        using var result = graph.Run(x, new RunOptions
                        {
                            Taps = group.Select(l => l.Name).ToArray(),
                            KeepTaps = false,
                            OnTap = (layer, act) => collected[layer.Name].Add(graph.ChannelsFirst(act).detach().to(ScalarType.Float32).cpu().flatten(1).clone().DetachFromDisposeScope()),
                        });
                    }
                    finally
                    {
                        foreach (var t in tensors) t.Dispose();
                    }
                    progress?.Report(new ExtractionProgress(Math.Min(nref, off + batch), nref, 0, null, $"fit PCA {g}/{groups.Count}"));
                }
                foreach (var l in group)
                {
                    using var all = cat(collected[l.Name].ToArray(), 0);
                    pca.Fit(l.Name, all);
                }
            }
            finally
            {
                foreach (var list in collected.Values) foreach (var t in list) t.Dispose();
            }
        }
    }

    static void WriteAtomic(string path, string text)
    {
        var tmp = path + $".tmp-{Environment.ProcessId}";
        using (var fs = new FileStream(tmp, FileMode.Create))
        {
            fs.Write(System.Text.Encoding.UTF8.GetBytes(text));
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { }
    }

    /// <summary>Per-layer row-major buffers for one block, allocated once the layer's width is known.</summary>
    sealed class BlockBuffer
    {
        readonly string[] _names;
        readonly Dictionary<string, int> _slot;
        readonly float[][] _data;
        readonly int[] _rows;
        readonly long[][] _shapes;
        readonly int[] _dims;
        readonly int _capacity;

        public BlockBuffer(IReadOnlyList<LayerInfo> layers, int capacityRows)
        {
            _names = layers.Select(l => l.Name).ToArray();
            _slot = _names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i);
            _data = new float[_names.Length][];
            _rows = new int[_names.Length];
            _shapes = new long[_names.Length][];
            _dims = Enumerable.Repeat(-1, _names.Length).ToArray();
            _capacity = capacityRows;
        }

        public void Append(string layer, Tensor reduced)
        {
            int i = _slot[layer];
            int dim = (int)reduced.shape[1], rows = (int)reduced.shape[0];
            if (_dims[i] >= 0 && _dims[i] != dim)
                throw new LayerLensException($"layer '{layer}' gave {dim} features for this batch but {_dims[i]} before (images of different sizes?)", ErrorKind.BadInput);
            _dims[i] = dim;
            _data[i] ??= new float[checked((long)_capacity * dim)];
            reduced.data<float>().CopyTo(_data[i], checked(_rows[i] * dim));
            _rows[i] += rows;
        }

        public void RecordShape(string layer, long[] shape) => _shapes[_slot[layer]] ??= shape;

        /// <summary>Empties the buffer for the next block, keeping its arrays.</summary>
        public void Reset() => Array.Clear(_rows);

        public IReadOnlyList<float[]> Data => _data.Select(d => d ?? Array.Empty<float>()).ToArray();

        public ShardLayer[] Describe(int rows) =>
            _names.Select((n, i) => new ShardLayer(n, Math.Max(0, _dims[i]), _shapes[i] ?? Array.Empty<long>())).ToArray();
    }

    /// <summary>Decodes and preprocesses images on worker threads, handing them out in dataset order.</summary>
    sealed class PrefetchFeed : IDisposable
    {
        readonly Channel<Task<Prepared>> _channel;
        readonly CancellationTokenSource _cts;
        readonly Task _producer;

        public PrefetchFeed(IReadOnlyList<ImageItem> all, IReadOnlyList<int> order, ImagePreprocessor pre, int workers, int ahead, CancellationToken cancel)
        {
            _cts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            _channel = Channel.CreateBounded<Task<Prepared>>(new BoundedChannelOptions(Math.Max(1, ahead)) { SingleReader = true, SingleWriter = true });
            var gate = new SemaphoreSlim(Math.Max(1, workers));
            var token = _cts.Token;
            _producer = Task.Run(async () =>
            {
                try
                {
                    foreach (var index in order)
                    {
                        await gate.WaitAsync(token).ConfigureAwait(false);
                        var item = all[index];
                        var task = Task.Run(() =>
                        {
                            try
                            {
                                var img = ImageDecoder.Decode(item.Path);
                                return new Prepared(index, pre.Apply(img), null);
                            }
                            catch (LayerLensException e)
                            {
                                return new Prepared(index, null, e);
                            }
                            finally
                            {
                                gate.Release();
                            }
                        }, token);
                        await _channel.Writer.WriteAsync(task, token).ConfigureAwait(false);
                    }
                    _channel.Writer.TryComplete();
                }
                catch (Exception e)
                {
                    _channel.Writer.TryComplete(e);
                }
            }, token);
        }

        public Prepared Next()
        {
            var task = _channel.Reader.ReadAsync(_cts.Token).AsTask().GetAwaiter().GetResult();
            return task.GetAwaiter().GetResult();
        }

        public void Dispose()
        {
            _cts.Cancel();
            try { _producer.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
            while (_channel.Reader.TryRead(out var t))
            {
                try
                {
                    if (t.Wait(TimeSpan.FromSeconds(5))) t.Result.Tensor?.Dispose();
                }
                catch (AggregateException) { }
            }
            _cts.Dispose();
        }
    }

    readonly record struct Prepared(int Index, Tensor? Tensor, LayerLensException? Error);
}
