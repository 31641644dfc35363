using LayerLens.Explain.Cam;
using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Explain;

/// <summary>How faithfulness curves score the model.</summary>
/// <param name="Steps">Deletion/insertion: the curve has Steps + 1 points, step k changes ⌊k·H·W / Steps⌋ pixels.</param>
/// <param name="BatchSize">Perturbed images per forward pass.</param>
/// <param name="Score">Softmax probability of the target class (as RISE and ROAD report) or its raw score.</param>
/// <param name="OutputName">Graph output holding class scores; null = the first output. Behind a Softmax node the logits are read.</param>
public sealed record FaithfulnessOptions(int Steps = 50, int BatchSize = 32, CamScore Score = CamScore.Softmax, string? OutputName = null);

/// <summary>A deletion or insertion curve of one image: the target score after changing a fraction of the pixels, and its area.</summary>
public sealed record FaithfulnessCurve(double[] Fractions, double[] Scores, double Auc);

/// <summary>ROAD for one image: target scores after removing (and imputing) a fraction of pixels, most- and least-relevant first.</summary>
public sealed record RoadResult(double[] Fractions, double Original, double[] MostRelevantFirst, double[] LeastRelevantFirst)
{
    /// <summary>Mean over fractions of LeRF − MoRF (higher: the map ranks pixels better).</summary>
    public double Combined => LeastRelevantFirst.Zip(MostRelevantFirst, (l, m) => l - m).Average();
}

/// <summary>
/// Faithfulness of saliency maps. Deletion and insertion (Petsiuk et al. 2018, RISE): pixels are replaced in order of
/// decreasing relevance by a baseline (deletion: zeros) or copied from the image into a baseline (insertion: a
/// Gaussian blur of the image, 11 × 11, σ = 5, mirrored borders), and the target score is traced; the curves' areas
/// (trapezoid rule over the fraction of pixels) summarise them. ROAD (Rong et al. 2022): the most (MoRF) or least
/// (LeRF) relevant fraction of pixels is removed and filled by noisy linear imputation (each removed pixel the
/// weighted mean of its 8 neighbours, 1/6 sideways and 1/12 diagonally, solved jointly, plus Gaussian noise).
/// Pixels are ranked by map value, ties by row-major index. Inputs are in the graph's layout (NCHW or NHWC); maps
/// are input height × width, row-major. Perturbed images are scored in batches.
/// </summary>
public sealed class Faithfulness
{
    readonly ModelGraph _graph;
    readonly CamEngine _layout;
    readonly FaithfulnessOptions _options;

    public Faithfulness(ModelGraph graph, FaithfulnessOptions? options = null)
    {
        _graph = graph ?? throw new ArgumentNullException(nameof(graph));
        _layout = new CamEngine(graph);
        _options = options ?? new FaithfulnessOptions();
        if (_options.Steps < 1) throw new LayerLensException($"faithfulness needs at least 1 step, got {_options.Steps}", ErrorKind.Usage);
        if (_options.BatchSize < 1) throw new LayerLensException($"batch size must be at least 1, got {_options.BatchSize}", ErrorKind.Usage);
    }

    /// <summary>Deletion curves: the most relevant pixels first set to <paramref name="baseline"/> (default zeros, same shape as <paramref name="input"/>).</summary>
    public FaithfulnessCurve[] Deletion(Tensor input, IReadOnlyList<float[]> maps, IReadOnlyList<int> targetClass, Tensor? baseline = null)
    {
        using var scope = NewDisposeScope();
        var x = ToNchw(input, maps, targetClass);
        var b = baseline is null ? zeros_like(x) : ToNchw(baseline, maps, targetClass);
        return Curves(x, b, x, maps, targetClass, _layout.InputChannelsLast(input));
    }

    /// <summary>Insertion curves: from <paramref name="baseline"/> (default the blurred image) the most relevant pixels of the image first.</summary>
    public FaithfulnessCurve[] Insertion(Tensor input, IReadOnlyList<float[]> maps, IReadOnlyList<int> targetClass, Tensor? baseline = null)
    {
        using var scope = NewDisposeScope();
        var x = ToNchw(input, maps, targetClass);
        var b = baseline is null ? Blur(x) : ToNchw(baseline, maps, targetClass);
        return Curves(x, x, b, maps, targetClass, _layout.InputChannelsLast(input));
    }

    /// <summary>ROAD at the given fractions of removed pixels (each in [0, 1)); noise is the imputation noise's standard deviation.</summary>
    public RoadResult[] Road(Tensor input, IReadOnlyList<float[]> maps, IReadOnlyList<int> targetClass,
                             IReadOnlyList<double>? fractions = null, double noise = 0.01, int seed = 0)
    {
        using var scope = NewDisposeScope();
        var fr = (fractions ?? new[] { 0.1, 0.3, 0.5, 0.7, 0.9 }).ToArray();
        if (fr.Any(f => f < 0 || f >= 1)) throw new LayerLensException("ROAD fractions must lie in [0, 1)", ErrorKind.Usage);
        var x = ToNchw(input, maps, targetClass);
        bool nhwc = _layout.InputChannelsLast(input);
        long n = x.shape[0], h = x.shape[2], w = x.shape[3], hw = h * w;
        var gen = new Generator((ulong)seed);
        var original = Scores(x, Enumerable.Range(0, (int)n).Select(i => (long)targetClass[i]).ToArray(), nhwc);
        var results = new RoadResult[n];
        for (int i = 0; i < n; i++)
        {
            var desc = Order(maps[i], descending: true);
            var asc = Order(maps[i], descending: false);
            var masks = new List<bool[]>();
            foreach (var order in new[] { desc, asc })
                foreach (var f in fr)
                {
                    var keep = new bool[hw];
                    Array.Fill(keep, true);
                    int removed = (int)(f * hw);
                    for (int j = 0; j < removed; j++) keep[order[j]] = false;
                    masks.Add(keep);
                }
            using var inner = NewDisposeScope();
            var keepT = tensor(masks.SelectMany(m => m).ToArray(), device: x.device).reshape(masks.Count, 1, h, w);
            var imputed = ImputeBatch(x[i].unsqueeze(0).expand(masks.Count, -1, -1, -1), keepT, noise, gen);
            var s = Scores(imputed, Enumerable.Repeat((long)targetClass[i], masks.Count).ToArray(), nhwc);
            results[i] = new RoadResult(fr, original[i], s.Take(fr.Length).ToArray(), s.Skip(fr.Length).ToArray());
        }
        return results;
    }

    /// <summary>
    /// Noisy linear imputation of one image [C, H, W] (NCHW): pixels where <paramref name="keep"/> (H·W, row-major) is
    /// false become the solution of "each equals the weighted mean of its in-image neighbours" (weights 1/6 sideways,
    /// 1/12 diagonally), solved by conjugate gradients in float64, plus N(0, noise²) per channel.
    /// </summary>
    public static Tensor NoisyLinearImpute(Tensor image, bool[] keep, double noise = 0.01, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        long h = image.shape[1], w = image.shape[2];
        if (keep.Length != h * w) throw new LayerLensException($"imputation mask has {keep.Length} entries, the image {h}×{w} pixels", ErrorKind.BadInput);
        var known = tensor(keep, device: image.device).reshape(1, 1, h, w);
        return ImputeBatch(image.unsqueeze(0), known, noise, generator)[0].MoveToOuterDisposeScope();
    }

    /// <summary>Noisy linear imputation of images [N, C, H, W] with masks [N, 1, H, W] (true = keep), all systems solved together.</summary>
    public static Tensor ImputeBatch(Tensor images, Tensor keep, double noise = 0.01, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        long n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        var x = images.to_type(ScalarType.Float64).reshape(n * c, 1, h, w);
        var known = keep.to_type(ScalarType.Float64).to(images.device).expand(n, c, h, w).reshape(n * c, 1, h, w);
        var unknown = known.neg().add(1);
        if (unknown.sum().item<double>() == 0) return images.clone().MoveToOuterDisposeScope();
        var kernel = tensor(new[] { 1 / 12.0, 1 / 6.0, 1 / 12.0, 1 / 6.0, 0, 1 / 6.0, 1 / 12.0, 1 / 6.0, 1 / 12.0 }, dtype: ScalarType.Float64, device: images.device).reshape(1, 1, 3, 3);
        Tensor Neighbours(Tensor t) => F.conv2d(t, kernel, padding: new long[] { 1, 1 });
        var s = Neighbours(ones(1, 1, h, w, dtype: ScalarType.Float64, device: images.device));  // weight of in-image neighbours
        Tensor Apply(Tensor u) => s.mul(u).sub(Neighbours(u)).mul(unknown);                      // u lives on unknown pixels
        var rhs = Neighbours(x.mul(known)).mul(unknown);
        // Conjugate gradients, one system per image and channel (symmetric positive definite when a pixel is known).
        var u = zeros_like(rhs);
        var r = rhs.clone();
        var p = r.clone();
        var rr = r.pow(2).sum(new long[] { 1, 2, 3 }, keepdim: true);
        var stop = rhs.pow(2).sum(new long[] { 1, 2, 3 }, keepdim: true).mul(1e-24).clamp_min(1e-28);
        for (int it = 0; it < 20 * (h * w) && rr.gt(stop).any().item<bool>(); it++)
        {
            using var step = NewDisposeScope();
            var ap = Apply(p);
            var pap = p.mul(ap).sum(new long[] { 1, 2, 3 }, keepdim: true);
            var alpha = where(pap.gt(0).logical_and(rr.gt(stop)), rr.div(pap.clamp_min(1e-300)), zeros_like(pap));
            u.add_(alpha.mul(p));
            r.sub_(alpha.mul(ap));
            var rrNew = r.pow(2).sum(new long[] { 1, 2, 3 }, keepdim: true);
            var beta = where(rr.gt(0), rrNew.div(rr.clamp_min(1e-300)), zeros_like(rr));
            var (oldP, oldRr) = (p, rr);
            p = r.add(beta.mul(p)).MoveToOuterDisposeScope();
            rr = rrNew.MoveToOuterDisposeScope();
            oldP.Dispose();
            oldRr.Dispose();
        }
        var filled = x.mul(known).add(u);
        if (noise > 0) filled = filled.add(randn(filled.shape, dtype: ScalarType.Float64, device: images.device, generator: generator).mul(noise).mul(unknown));
        return filled.reshape(n, c, h, w).to(images.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Gaussian blur, 11 × 11, σ = 5, mirrored borders (as RISE's insertion baseline), of [B, C, H, W].</summary>
    public static Tensor Blur(Tensor x)
    {
        using var scope = NewDisposeScope();
        var k = Enumerable.Range(-5, 11).Select(i => Math.Exp(-i * i / 50.0)).ToArray();
        double sum = k.Sum();
        var g = tensor(k.Select(v => v / sum).ToArray(), dtype: ScalarType.Float64, device: x.device);
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        if (h < 6 || w < 6) throw new LayerLensException($"the insertion baseline's blur needs images of at least 6 × 6 pixels, got {h} × {w}; give a baseline", ErrorKind.BadInput);
        var t = x.to_type(ScalarType.Float64).reshape(b * c, 1, h, w);
        t = F.conv2d(F.pad(t, new long[] { 5, 5, 0, 0 }, PaddingModes.Reflect), g.reshape(1, 1, 1, 11));
        t = F.conv2d(F.pad(t, new long[] { 0, 0, 5, 5 }, PaddingModes.Reflect), g.reshape(1, 1, 11, 1));
        return t.reshape(b, c, h, w).to(x.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Pixel indices by map value (descending or ascending), ties by index.</summary>
    static int[] Order(float[] map, bool descending)
    {
        var idx = Enumerable.Range(0, map.Length);
        return (descending ? idx.OrderByDescending(i => map[i]) : idx.OrderBy(i => map[i])).ThenBy(i => i).ToArray();
    }

    /// <summary>Step k shows <paramref name="shown"/> at the ⌊k·HW/Steps⌋ most relevant pixels and <paramref name="rest"/> elsewhere.</summary>
    FaithfulnessCurve[] Curves(Tensor image, Tensor shown, Tensor rest, IReadOnlyList<float[]> maps, IReadOnlyList<int> targetClass, bool nhwc)
    {
        // Deletion: shown = baseline over the image (rest = image); insertion: shown = image over the baseline.
        long n = image.shape[0], h = image.shape[2], w = image.shape[3], hw = h * w;
        int steps = _options.Steps;
        var fractions = Enumerable.Range(0, steps + 1).Select(k => (double)k / steps).ToArray();
        var curves = new FaithfulnessCurve[n];
        for (int i = 0; i < n; i++)
        {
            var order = Order(maps[i], descending: true);
            var rank = new long[hw];
            for (int j = 0; j < hw; j++) rank[order[j]] = j;
            var scores = new List<double>();
            using var rankT = tensor(rank).reshape(1, 1, h, w);
            for (int start = 0; start <= steps; start += _options.BatchSize)
            {
                using var scope = NewDisposeScope();
                int m = Math.Min(_options.BatchSize, steps + 1 - start);
                var counts = tensor(Enumerable.Range(start, m).Select(k => (long)k * hw / steps).ToArray()).reshape(m, 1, 1, 1);
                var changed = rankT.lt(counts).to(image.device);                               // [m, 1, H, W]
                var batch = where(changed, shown[i].unsqueeze(0), rest[i].unsqueeze(0));
                scores.AddRange(Scores(batch, Enumerable.Repeat((long)targetClass[i], m).ToArray(), nhwc));
            }
            double auc = 0;
            for (int k = 0; k < steps; k++) auc += (scores[k] + scores[k + 1]) / 2 / steps;
            curves[i] = new FaithfulnessCurve(fractions, scores.ToArray(), auc);
        }
        return curves;
    }

    /// <summary>Target scores of NCHW images, run in batches in the graph's layout.</summary>
    double[] Scores(Tensor nchw, long[] classes, bool nhwc)
    {
        var output = _options.OutputName ?? _graph.OutputNames[0];
        if (!_graph.OutputNames.Contains(output))
            throw new LayerLensException($"model '{_graph.Name}' has no output '{output}' (outputs: {string.Join(", ", _graph.OutputNames)})", ErrorKind.BadInput);
        var logitsName = _layout.LogitsOf(output);
        var result = new double[nchw.shape[0]];
        for (long start = 0; start < nchw.shape[0]; start += _options.BatchSize)
        {
            using var scope = NewDisposeScope();
            long m = Math.Min(_options.BatchSize, nchw.shape[0] - start);
            var xs = nchw.narrow(0, start, m);
            if (nhwc) xs = xs.permute(0, 2, 3, 1);
            xs = xs.contiguous();
            using var run = _graph.Run(xs, new RunOptions { Taps = logitsName != output ? new[] { logitsName } : Array.Empty<string>(), CheckFinite = false });
            var logits = (logitsName != output ? run.Taps[logitsName] : run.Outputs[output]).reshape(m, -1).to_type(ScalarType.Float64);
            var s = _options.Score == CamScore.Softmax ? logits.softmax(1) : logits;
            var idx = tensor(classes.Skip((int)start).Take((int)m).ToArray(), device: s.device).unsqueeze(1);
            s.gather(1, idx).squeeze(1).cpu().data<double>().ToArray().CopyTo(result, start);
        }
        return result;
    }

    Tensor ToNchw(Tensor input, IReadOnlyList<float[]> maps, IReadOnlyList<int> targetClass)
    {
        if (input.dim() != 4) throw new LayerLensException($"faithfulness input must be a 4-D image batch, got shape [{string.Join(",", input.shape)}]", ErrorKind.BadInput);
        var x = _layout.InputChannelsLast(input) ? input.permute(0, 3, 1, 2) : input;
        long n = x.shape[0], hw = x.shape[2] * x.shape[3];
        if (maps.Count != n || targetClass.Count != n)
            throw new LayerLensException($"faithfulness: {n} images but {maps.Count} maps and {targetClass.Count} target classes", ErrorKind.BadInput);
        if (maps.Any(m => m.Length != hw))
            throw new LayerLensException($"faithfulness: maps must have input height × width = {hw} values", ErrorKind.BadInput);
        return x;
    }
}
