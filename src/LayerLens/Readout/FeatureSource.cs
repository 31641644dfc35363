using LayerLens.Features;
using LayerLens.IO;
using LayerLens.Models;
using static TorchSharp.torch;

namespace LayerLens.Readout;

/// <summary>
/// Features to read out from: a LayerLens feature store (.h5, one matrix per layer) or a plain .npy matrix [N, D]
/// whose row ids come from a text file (one id per line), for features computed elsewhere.
/// </summary>
public sealed class FeatureSource
{
    public string Path { get; }
    public IReadOnlyList<string> Ids { get; }
    public IReadOnlyList<LayerInfo> Layers { get; }
    readonly FeatureStore? _store;
    readonly IReadOnlyDictionary<string, int> _dims;

    FeatureSource(string path, IReadOnlyList<string> ids, IReadOnlyList<LayerInfo> layers, FeatureStore? store, IReadOnlyDictionary<string, int> dims)
    { Path = path; Ids = ids; Layers = layers; _store = store; _dims = dims; }

    public static FeatureSource Open(string path, string? idsPath)
    {
        if (!File.Exists(path)) throw new LayerLensException($"{path}: features not found", ErrorKind.BadInput);
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            if (idsPath == null) throw new LayerLensException($"{path}: a .npy feature matrix needs --ids FILE listing the id of each row", ErrorKind.Usage);
            if (!File.Exists(idsPath)) throw new LayerLensException($"{idsPath}: ids file not found", ErrorKind.BadInput);
            var ids = File.ReadAllLines(idsPath).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
            using var m = Npy.Read(path);
            if (m.dim() != 2) throw new LayerLensException($"{path}: expected a matrix [samples, features], got shape [{string.Join(", ", m.shape)}]", ErrorKind.BadInput);
            if (m.shape[0] != ids.Length) throw new LayerLensException($"{idsPath}: {ids.Length} ids but {path} has {m.shape[0]} rows", ErrorKind.BadInput);
            var name = System.IO.Path.GetFileNameWithoutExtension(path);
            return new FeatureSource(path, ids, new[] { new LayerInfo(name, "external", name, 0, 0, 1.0, 0) }, null,
                new Dictionary<string, int> { [name] = (int)m.shape[1] });
        }
        var store = FeatureStore.Open(path);
        var layers = store.Layers.Select((l, i) => new LayerInfo(l.Name, l.Op, l.Name, i, l.DepthIndex, l.RelativeDepth, 0) { OutputShape = l.OutputShape }).ToArray();
        return new FeatureSource(path, store.Ids, layers, store, store.Layers.ToDictionary(l => l.Name, l => l.Dim));
    }

    /// <summary>The layer's matrix as float32 [N, D].</summary>
    public Tensor Read(string layer)
    {
        if (_store == null) return Npy.Read(Path);
        var data = _store.Read(layer);
        return tensor(data, new long[] { Ids.Count, _dims[layer] });
    }
}

/// <summary>Scores per sample read from a CSV/TSV table, keyed by an id column.</summary>
public sealed record TargetTable(string Path, string[] Ids, double[] Values, int Dropped, IReadOnlyDictionary<string, string[]> Columns)
{
    /// <summary>
    /// Reads <paramref name="targetColumn"/> as numbers. NaN, infinite or empty scores are an error naming the line, unless
    /// <paramref name="dropMissing"/> is set, in which case those rows are dropped and counted in <see cref="Dropped"/>.
    /// </summary>
    public static TargetTable Read(string path, string idColumn, string targetColumn, bool dropMissing, bool labels = false)
    {
        if (!File.Exists(path)) throw new LayerLensException($"{path}: targets file not found", ErrorKind.BadInput);
        var rows = Datasets.DelimitedReader.Read(path).ToList();
        if (rows.Count == 0) throw new LayerLensException($"{path}: empty file", ErrorKind.BadInput);
        var header = rows[0].Fields.Select(f => f.Trim()).ToArray();
        int ic = Array.IndexOf(header, idColumn), tc = Array.IndexOf(header, targetColumn);
        if (ic < 0) throw new LayerLensException($"{path}: no id column '{idColumn}' (columns: {string.Join(", ", header)})", ErrorKind.Usage);
        if (tc < 0) throw new LayerLensException($"{path}: no target column '{targetColumn}' (columns: {string.Join(", ", header)})", ErrorKind.Usage);
        var ids = new List<string>(); var vals = new List<double>(); var keep = new List<int>();
        int dropped = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int r = 1; r < rows.Count; r++)
        {
            var f = rows[r].Fields;
            if (f.Count == 1 && f[0].Trim().Length == 0) continue;
            if (f.Count != header.Length) throw new LayerLensException($"{path}:{rows[r].Line}: {f.Count} fields, the header has {header.Length}", ErrorKind.BadInput);
            var id = f[ic].Trim();
            if (!seen.Add(id)) throw new LayerLensException($"{path}:{rows[r].Line}: id '{id}' appears twice", ErrorKind.BadInput);
            var text = f[tc].Trim();
            bool ok = double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) && double.IsFinite(v);
            if (!ok)
            {
                if (dropMissing && (text.Length == 0 || double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _)))
                { dropped++; continue; }
                throw new LayerLensException($"{path}:{rows[r].Line}: {targetColumn} '{text}' is not a finite number" + (labels ? "" : " (use --drop-missing to skip NaN or empty scores)"), ErrorKind.BadInput);
            }
            if (labels && v != Math.Round(v)) throw new LayerLensException($"{path}:{rows[r].Line}: class label '{text}' is not an integer", ErrorKind.BadInput);
            ids.Add(id); vals.Add(v); keep.Add(r);
        }
        if (ids.Count == 0) throw new LayerLensException($"{path}: no usable rows", ErrorKind.BadInput);
        if (!labels && vals.Distinct().Count() == 1) throw new LayerLensException($"{path}: every {targetColumn} is {vals[0]}; a constant target cannot be predicted or correlated", ErrorKind.BadInput);
        var cols = header.Select((h, c) => (h, c)).ToDictionary(p => p.h, p => keep.Select(r => rows[r].Fields[p.c].Trim()).ToArray());
        return new TargetTable(path, ids.ToArray(), vals.ToArray(), dropped, cols);
    }

    /// <summary>Feature row for each target id; targets without features are an error that lists a few.</summary>
    public long[] RowsIn(IReadOnlyList<string> featureIds, string featurePath)
    {
        var pos = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < featureIds.Count; i++) pos.TryAdd(featureIds[i], i);
        var missing = Ids.Where(id => !pos.ContainsKey(id)).ToArray();
        if (missing.Length > 0)
            throw new LayerLensException($"{Path}: {missing.Length} of {Ids.Length} ids have no row in {featurePath}, e.g. {string.Join(", ", missing.Take(5))}", ErrorKind.BadInput);
        return Ids.Select(id => pos[id]).ToArray();
    }
}

public enum ReadoutModel { Ridge, Pls, Logistic }

/// <summary>One metric of a cross-validated readout: per-fold values, their mean and standard error.</summary>
public sealed record ReadoutMetric(string Metric, Stats.FoldSummary Summary);

/// <summary>
/// Cross-validated readout of one layer: for each fold the model (and ridge's alpha, and the standardisation) is fitted
/// on the training indices only and scored on the test indices.
/// </summary>
public static class CrossValidatedReadout
{
    public static IReadOnlyList<ReadoutMetric> Run(Tensor features, double[] targets, IReadOnlyList<Fold> folds, ReadoutModel model,
        int plsComponents = 25, double logisticC = 1.0, string what = "readout")
    {
        if (features.shape[0] != targets.Length) throw new LayerLensException($"{what}: {features.shape[0]} feature rows for {targets.Length} targets", ErrorKind.Internal);
        var names = model == ReadoutModel.Logistic ? new[] { "accuracy" } : new[] { "spearman", "pearson", "r2", "mse" };
        var values = names.ToDictionary(n => n, _ => new List<double>());
        foreach (var f in folds)
        {
            if (f.Train.Length < 3 || f.Test.Length < 2)
                throw new LayerLensException($"{what}: fold {f.Index} has {f.Train.Length} training and {f.Test.Length} test samples; too few to fit and score", ErrorKind.BadInput);
            using var scope = NewDisposeScope();
            var tr = tensor(f.Train.Select(i => (long)i).ToArray());
            var te = tensor(f.Test.Select(i => (long)i).ToArray());
            var Xtr = features.index_select(0, tr); var Xte = features.index_select(0, te);
            var ytr = f.Train.Select(i => targets[i]).ToArray(); var yte = f.Test.Select(i => targets[i]).ToArray();
            string fw = $"{what}, fold {f.Index}";
            if (model == ReadoutModel.Logistic)
            {
                using var m = LogisticRegression.Fit(Xtr, ytr.Select(v => (int)v).ToArray(), logisticC, standardize: true, what: fw);
                values["accuracy"].Add(Stats.Metrics.Accuracy(yte.Select(v => (int)v).ToArray(), m.PredictLabels(Xte), fw));
                continue;
            }
            var ytrT = tensor(ytr, dtype: ScalarType.Float64);
            using IFittedReadout fitted = model == ReadoutModel.Ridge
                ? RidgeCv.Fit(Xtr, ytrT, new RidgeCvOptions(), fw)
                : PlsRegression.Fit(Xtr, ytrT, Math.Min(plsComponents, Math.Min(f.Train.Length - 1, (int)features.shape[1])), fw);
            var pred = fitted.Predict(Xte).flatten().data<double>().ToArray();
            values["spearman"].Add(Stats.Correlation.Spearman(yte, pred, fw));
            values["pearson"].Add(Stats.Correlation.Pearson(yte, pred, fw));
            values["r2"].Add(Stats.Metrics.R2(yte, pred, fw));
            values["mse"].Add(Stats.Metrics.Mse(yte, pred, fw));
        }
        return names.Select(n => new ReadoutMetric(n, Stats.FoldSummary.Of(values[n]))).ToArray();
    }

    /// <summary>
    /// Out-of-fold predictions for regression readouts when the test folds partition the samples (k-fold, column):
    /// each sample is predicted by the model fitted without it. Used for permutation bands on pooled predictions.
    /// </summary>
    public static double[] OutOfFold(Tensor features, double[] targets, IReadOnlyList<Fold> folds, ReadoutModel model, int plsComponents = 25)
    {
        if (model == ReadoutModel.Logistic) throw new LayerLensException("out-of-fold predictions are for regression readouts", ErrorKind.Usage);
        var pred = new double[targets.Length];
        var seen = new bool[targets.Length];
        foreach (var f in folds)
        {
            using var scope = NewDisposeScope();
            var tr = tensor(f.Train.Select(i => (long)i).ToArray());
            var te = tensor(f.Test.Select(i => (long)i).ToArray());
            var ytr = tensor(f.Train.Select(i => targets[i]).ToArray(), dtype: ScalarType.Float64);
            using IFittedReadout m = model == ReadoutModel.Ridge
                ? RidgeCv.Fit(features.index_select(0, tr), ytr)
                : PlsRegression.Fit(features.index_select(0, tr), ytr, Math.Min(plsComponents, Math.Min(f.Train.Length - 1, (int)features.shape[1])));
            var p = m.Predict(features.index_select(0, te)).flatten().data<double>().ToArray();
            for (int j = 0; j < f.Test.Length; j++)
            {
                if (seen[f.Test[j]]) throw new LayerLensException("out-of-fold predictions need test folds that do not overlap", ErrorKind.Usage);
                seen[f.Test[j]] = true; pred[f.Test[j]] = p[j];
            }
        }
        if (seen.Any(b => !b)) throw new LayerLensException("out-of-fold predictions need test folds that cover every sample", ErrorKind.Usage);
        return pred;
    }
}
