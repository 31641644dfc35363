using LayerLens.Images;
using LayerLens.Models.Engine;
using LayerLens.Preprocessing;
using LayerLens.Quality.Datasets;
using LayerLens.Quality.Distances;
using LayerLens.Quality.Metrics;
using LayerLens.Reports;
using static TorchSharp.torch;

namespace LayerLens.Quality.Evaluation;

/// <summary>One line of the results table: a metric (model layer + readout, or a classic metric) on a dataset,
/// over all pairs ("all") or one distortion type.</summary>
public sealed record IqaResultRow(string Model, string Layer, double RelativeDepth, string Readout, string Dataset, string DistortionType, IqaScores Scores);

public sealed record IqaRunOptions
{
    public int BatchSize { get; init; } = 16;
    /// <summary>Also score PSNR, SSIM and MS-SSIM (MS-SSIM only where images are at least 176 px on each side).</summary>
    public bool Baselines { get; init; } = true;
    public EvaluationOptions Evaluation { get; init; } = new();
}

/// <summary>
/// Scores deep distances and classic metrics against a dataset's human ratings. Each reference image goes
/// through the model once; its distorted versions go in batches, every layer tapped in the same pass.
/// </summary>
public static class IqaBenchmark
{
    public static IReadOnlyList<IqaResultRow> Run(IqaDataset dataset, ModelGraph? graph, ImagePreprocessor? preprocessor,
        IReadOnlyList<string> layers, FeatureReadout? readout, IqaRunOptions? options = null,
        IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        var distances = graph != null && readout != null && preprocessor != null
            ? new[] { new DeepDistance(graph, layers, readout) } : Array.Empty<DeepDistance>();
        return RunDistances(dataset, preprocessor, distances, options, progress, cancel);
    }

    /// <summary>
    /// Scores several deep distances that share one model graph (different readouts, or learned weights) with one
    /// forward pass per image, plus the classic metrics when <see cref="IqaRunOptions.Baselines"/> is on. Rows are
    /// the baselines, then per distance its layers in order and "combined".
    /// </summary>
    public static IReadOnlyList<IqaResultRow> RunDistances(IqaDataset dataset, ImagePreprocessor? preprocessor,
        IReadOnlyList<DeepDistance> distances, IqaRunOptions? options = null,
        IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        var o = options ?? new IqaRunOptions();
        int n = dataset.Pairs.Count;
        if (distances.Count > 0 && preprocessor == null)
            throw new LayerLensException("deep distances need the model's preprocessing", ErrorKind.Internal);
        var graph = distances.Count > 0 ? distances[0].Graph : null;
        var tapped = distances.SelectMany(d => d.Layers).Distinct(StringComparer.Ordinal).ToArray();
        DeepDistance? tapAll = graph == null ? null : new DeepDistance(graph, tapped, distances[0].Readout);
        var deep = distances.Select(d => d.Layers.Select(_ => new double[n]).ToArray()).ToArray();
        var combined = distances.Select(_ => new double[n]).ToArray();
        var psnr = new double[n];
        var ssim = new double[n];
        var msssim = new double[n];
        bool msOk = o.Baselines;
        int done = 0;
        foreach (var group in Enumerable.Range(0, n).GroupBy(i => dataset.Pairs[i].Reference, StringComparer.Ordinal))
        {
            cancel.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var refImage = ImageDecoder.Decode(group.Key);
            var refPixels = refImage.ToChwTensor() * 255;
            using var refFeatures = tapAll?.Features(preprocessor!.Apply(refImage).unsqueeze(0));
            foreach (var chunk in group.Chunk(Math.Max(1, Math.Min(o.BatchSize, graph?.MaxBatch ?? int.MaxValue))))
            {
                cancel.ThrowIfCancellationRequested();
                using var inner = NewDisposeScope();
                var images = chunk.Select(i => ImageDecoder.Decode(dataset.Pairs[i].Distorted)).ToArray();
                for (int k = 0; k < images.Length; k++)
                    if (images[k].Width != refImage.Width || images[k].Height != refImage.Height)
                        throw new LayerLensException($"{dataset.Pairs[chunk[k]].Distorted}: {images[k].Width}×{images[k].Height}, but its reference {group.Key} is {refImage.Width}×{refImage.Height}", ErrorKind.BadInput);
                if (distances.Count > 0)
                {
                    var batch = stack(images.Select(im => preprocessor!.Apply(im)).ToArray());
                    var contributions = DeepDistance.ContributionsOfAll(distances, refFeatures!, batch);
                    try
                    {
                        for (int d = 0; d < distances.Count; d++)
                        {
                            var r = distances[d].Distances(contributions[d]);
                            for (int k = 0; k < chunk.Length; k++)
                            {
                                for (int l = 0; l < r.Layers.Count; l++) deep[d][l][chunk[k]] = r.PerLayer[l][k];
                                combined[d][chunk[k]] = r.Combined[k];
                            }
                        }
                    }
                    finally
                    {
                        foreach (var c in contributions) c.Dispose();
                    }
                }
                if (o.Baselines)
                {
                    var pixels = stack(images.Select(im => im.ToChwTensor()).ToArray()) * 255;
                    var p = Psnr.Compute(refPixels, pixels).data<double>().ToArray();
                    var s = Ssim.Compute(refPixels, pixels).data<double>().ToArray();
                    msOk &= Math.Min(refImage.Width, refImage.Height) >= 176;
                    var m = msOk ? MsSsim.Compute(refPixels, pixels).data<double>().ToArray() : null;
                    for (int k = 0; k < chunk.Length; k++)
                    {
                        psnr[chunk[k]] = p[k];
                        ssim[chunk[k]] = s[k];
                        if (m != null) msssim[chunk[k]] = m[k];
                    }
                }
                done += chunk.Length;
                progress?.Report(done);
            }
        }

        var rows = new List<IqaResultRow>();
        var scores = dataset.Pairs.Select(p => p.Score).ToArray();
        var types = dataset.Pairs.Select(p => p.DistortionType).ToArray();
        void Add(string model, string layer, double depth, string name, double[] values, bool isDistance)
        {
            // PSNR of identical images is +∞: cap at a finite ceiling above every finite value so ranks survive.
            var finite = values.Where(double.IsFinite).DefaultIfEmpty(0).Max();
            var v = values.Select(x => double.IsPositiveInfinity(x) ? finite + 1 : x).ToArray();
            IqaScores all;
            try
            {
                all = IqaEvaluation.Evaluate(v, scores, isDistance, dataset.HigherScoreIsBetter, o.Evaluation);
            }
            catch (LayerLensException) when (v.Distinct().Count() < 2)
            {
                // A layer whose distance is the same for every pair (dead units, a shape op) agrees with nothing:
                // its row stays, with the correlations missing, instead of stopping a whole grid.
                all = new IqaScores(v.Length, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, null, null);
            }
            rows.Add(new IqaResultRow(model, layer, depth, name, dataset.Name, "all", all));
            foreach (var (type, s) in IqaEvaluation.PerType(v, scores, types, isDistance, dataset.HigherScoreIsBetter,
                         o.Evaluation with { BootstrapResamples = 0 }))
                rows.Add(new IqaResultRow(model, layer, depth, name, dataset.Name, type, s));
        }
        if (o.Baselines)
        {
            Add("-", "-", double.NaN, "psnr", psnr, false);
            Add("-", "-", double.NaN, "ssim", ssim, false);
            if (msOk) Add("-", "-", double.NaN, "ms-ssim", msssim, false);
        }
        for (int d = 0; d < distances.Count; d++)
        {
            var dd = distances[d];
            for (int l = 0; l < dd.Layers.Count; l++)
                Add(graph!.Name, dd.Layers[l], graph.Layer(dd.Layers[l]).RelativeDepth, dd.Readout.Name, deep[d][l], true);
            Add(graph!.Name, "combined", double.NaN, dd.Readout.Name, combined[d], true);
        }
        return rows;
    }

    /// <summary>Columns of the results table; one row per model × layer × readout × dataset × distortion type.
    /// <c>role</c> is "baseline" (PSNR, SSIM, MS-SSIM, LPIPS) or "model".</summary>
    public static readonly (string Name, ColumnKind Kind)[] Columns =
    {
        ("model", ColumnKind.Text), ("layer", ColumnKind.Text), ("relative_depth", ColumnKind.Number), ("readout", ColumnKind.Text),
        ("dataset", ColumnKind.Text), ("distortion", ColumnKind.Text), ("pairs", ColumnKind.Integer),
        ("srocc", ColumnKind.Number), ("krocc", ColumnKind.Number), ("plcc", ColumnKind.Number),
        ("plcc4", ColumnKind.Number), ("rmse4", ColumnKind.Number), ("plcc5", ColumnKind.Number), ("rmse5", ColumnKind.Number),
        ("srocc_low", ColumnKind.Number), ("srocc_high", ColumnKind.Number), ("plcc_low", ColumnKind.Number), ("plcc_high", ColumnKind.Number),
        ("role", ColumnKind.Text),
    };

    /// <summary>Rows as a tidy table (<see cref="Columns"/>); rows of model "-" are baselines unless <paramref name="role"/> says otherwise.</summary>
    public static TidyTable ToTable(IEnumerable<IqaResultRow> rows, string? role = null)
    {
        var t = new TidyTable(Columns);
        foreach (var r in rows)
        {
            var s = r.Scores;
            t.Add(r.Model, r.Layer, r.RelativeDepth, r.Readout, r.Dataset, r.DistortionType, s.Pairs,
                s.Srocc, s.Krocc, s.Plcc, s.Plcc4, s.Rmse4, s.Plcc5, s.Rmse5,
                s.SroccInterval?.Low, s.SroccInterval?.High, s.PlccInterval?.Low, s.PlccInterval?.High,
                role ?? (r.Model == "-" ? "baseline" : "model"));
        }
        return t;
    }

    /// <summary>The results table as Parquet (same columns as the CSV; missing numbers as NaN), written atomically.</summary>
    public static void WriteParquet(IReadOnlyList<IqaResultRow> rows, string path) => ToTable(rows).WriteParquet(path);

    /// <summary>The results table as CSV, written atomically.</summary>
    public static void WriteCsv(IReadOnlyList<IqaResultRow> rows, string path) => ToTable(rows).WriteCsv(path);
}
