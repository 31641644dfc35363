using TorchSharp;
using System.Diagnostics;
using System.Text.Json;
using LayerLens.IO;
using LayerLens.Readout;
using static TorchSharp.torch;

// LayerLens side of bench/readout/run.sh: the same data and folds as reference_sklearn.py, timed the same way.
var dir = args[0];
int threads = args.Length > 1 ? int.Parse(args[1]) : 2;
LayerLens.Native.TorchRuntime.EnsureLoaded();
set_num_threads(threads);
using var X = Npy.Read(Path.Combine(dir, "x.npy"));
using var Y = Npy.Read(Path.Combine(dir, "y.npy"));
var folds = CrossValidation.KFold((int)X.shape[0], 5);
var sw = Stopwatch.StartNew();
var chosen = new List<double[]>();
foreach (var f in folds)
{
    using var scope = NewDisposeScope();
    var tr = tensor(f.Train.Select(i => (long)i).ToArray()); var te = tensor(f.Test.Select(i => (long)i).ToArray());
    using var m = RidgeCv.Fit(X.index_select(0, tr), Y.index_select(0, tr));
    m.Predict(X.index_select(0, te));
    chosen.Add(m.Alphas);
}
double ridge = sw.Elapsed.TotalSeconds;
var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "sklearn.json"))).RootElement;
var refAlphas = reference.GetProperty("alphas").EnumerateArray().Select(a => a.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
int same = 0, total = 0;
for (int k = 0; k < chosen.Count; k++)
    for (int j = 0; j < chosen[k].Length; j++) { total++; if (Math.Abs(chosen[k][j] - refAlphas[k][j]) <= 1e-9 * refAlphas[k][j]) same++; }
double? pls = null;
double? plsMaxRelDiff = null;
if (File.Exists(Path.Combine(dir, "xp.npy")))
{
    using var Xp = Npy.Read(Path.Combine(dir, "xp.npy"));
    using var Yp = Npy.Read(Path.Combine(dir, "yp.npy"));
    int s = (int)Xp.shape[0];
    sw.Restart();
    for (int split = 0; split < 10; split++)
    {
        using var scope = NewDisposeScope();
        var idx = Enumerable.Range(0, s).ToArray();
        new Random(split).Shuffle(idx);
        var tr = tensor(idx[..(int)(0.9 * s)].Select(i => (long)i).ToArray()); var te = tensor(idx[(int)(0.9 * s)..].Select(i => (long)i).ToArray());
        using var m = PlsRegression.Fit(Xp.index_select(0, tr), Yp.index_select(0, tr), 25);
        m.Predict(Xp.index_select(0, te));
    }
    pls = sw.Elapsed.TotalSeconds;
    var refPath = Path.Combine(dir, "pls_pred0.npy");
    if (File.Exists(refPath))
    {
        // Untimed: scikit-learn's split 0, fitted again, and the largest prediction difference relative to the
        // predictions' largest magnitude.
        using var scope = NewDisposeScope();
        var perm = Npy.Read(Path.Combine(dir, "pls_perm0.npy")).to_type(ScalarType.Int64);
        int cut = (int)(0.9 * s);
        using var m = PlsRegression.Fit(Xp.index_select(0, perm[..cut]), Yp.index_select(0, perm[..cut]), 25);
        var expected = Npy.Read(refPath).to_type(ScalarType.Float64);
        plsMaxRelDiff = (m.Predict(Xp.index_select(0, perm[cut..])) - expected).abs().max().ToDouble() / expected.abs().max().ToDouble();
    }
}
double skRidge = reference.GetProperty("ridge_seconds").GetDouble();
Console.WriteLine(JsonSerializer.Serialize(new
{
    layerlens_ridge_seconds = ridge, sklearn_ridge_seconds = skRidge, ridge_speedup = skRidge / ridge,
    same_alphas = $"{same}/{total}",
    layerlens_pls_seconds = pls,
    sklearn_pls_seconds = reference.TryGetProperty("pls_seconds", out var p) ? p.GetDouble() : (double?)null,
    pls_max_relative_difference = plsMaxRelDiff,
    pls_speedup = pls is double q && reference.TryGetProperty("pls_seconds", out var p2) ? p2.GetDouble() / q : (double?)null,
}));
