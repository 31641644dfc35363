using System.Text.Json;
using LayerLens.Readout;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Readout;

/// <summary>Readouts against scikit-learn fits stored in Fixtures/Readout/readout.json (scripts/fixtures/make_readout_fixtures.py).</summary>
public class ReadoutTests
{
    static readonly JsonElement Fx = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Readout", "readout.json"))).RootElement;

    static Tensor M(JsonElement e)
    {
        var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        return tensor(rows.SelectMany(r => r).ToArray(), new long[] { rows.Length, rows[0].Length }, dtype: ScalarType.Float64);
    }

    static void AssertClose(Tensor expected, Tensor actual, double rel, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        var e = expected.data<double>().ToArray(); var a = actual.data<double>().ToArray();
        double scale = e.Max(Math.Abs);
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= rel * Math.Max(Math.Abs(e[i]), 1e-3 * scale), $"{what}[{i}]: expected {e[i]:R}, got {a[i]:R}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ridge_picks_same_alpha_and_predictions_as_scikit_learn_RidgeCV(bool libtorchAlgebra)
    {
        if (libtorchAlgebra) { LayerLens.Native.DenseLinalg.WithTorch(() => { Ridge_picks_same_alpha_and_predictions_as_scikit_learn_RidgeCV(false); return 0; }); return; }
        var grid = Fx.GetProperty("alphas").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        foreach (var c in Fx.GetProperty("ridge").EnumerateArray())
        {
            using var scope = NewDisposeScope();
            var name = c.GetProperty("name").GetString()!;
            var opts = new RidgeCvOptions(grid, AlphaPerTarget: c.GetProperty("per_target").GetBoolean());
            using var model = RidgeCv.Fit(M(c.GetProperty("x_train")), M(c.GetProperty("y_train")), opts);
            var alphas = c.GetProperty("alpha").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            if (alphas.Length == 1 && model.Alphas.Length > 1) alphas = Enumerable.Repeat(alphas[0], model.Alphas.Length).ToArray();
            Assert.Equal(alphas, model.Alphas);
            AssertClose(M(c.GetProperty("predictions")), model.Predict(M(c.GetProperty("x_test"))), 1e-6, name);
        }
    }

    [Fact]
    public void Ridge_default_grid_is_30_values_from_1e_minus3_to_1e6()
    {
        var expected = Fx.GetProperty("alphas").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal(30, RidgeCvOptions.DefaultAlphas.Length);
        for (int i = 0; i < 30; i++) Assert.Equal(expected[i], RidgeCvOptions.DefaultAlphas[i], 1e-9 * expected[i]);
    }

    [Fact]
    public void Pls_predictions_match_scikit_learn_PLSRegression()
    {
        foreach (var c in Fx.GetProperty("pls").EnumerateArray())
        {
            using var scope = NewDisposeScope();
            var name = c.GetProperty("name").GetString()!;
            using var model = PlsRegression.Fit(M(c.GetProperty("x_train")), M(c.GetProperty("y_train")), c.GetProperty("components").GetInt32());
            AssertClose(M(c.GetProperty("predictions")), model.Predict(M(c.GetProperty("x_test"))), 1e-6, name);
        }
    }

    [Fact]
    public void Logistic_probabilities_match_scikit_learn_LogisticRegression()
    {
        foreach (var c in Fx.GetProperty("logistic").EnumerateArray())
        {
            using var scope = NewDisposeScope();
            var name = c.GetProperty("name").GetString()!;
            var labels = c.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            using var model = LogisticRegression.Fit(M(c.GetProperty("x_train")), labels, c.GetProperty("C").GetDouble());
            AssertClose(M(c.GetProperty("probabilities")), model.Predict(M(c.GetProperty("x_test"))), 1e-6, name);
        }
    }

    [Fact]
    public void KFold_sizes_follow_scikit_learn_and_test_folds_partition_the_samples()
    {
        var folds = CrossValidation.KFold(11, 3);
        Assert.Equal(new[] { 4, 4, 3 }, folds.Select(f => f.Test.Length));
        Assert.Equal(Enumerable.Range(0, 4), folds[0].Test);
        Assert.Equal(Enumerable.Range(0, 11), folds.SelectMany(f => f.Test).OrderBy(i => i));
        foreach (var f in folds) Assert.Empty(f.Train.Intersect(f.Test));
        Assert.Throws<LayerLensException>(() => CrossValidation.KFold(3, 5));
    }

    [Fact]
    public void Stratified_shuffle_split_keeps_class_proportions_and_is_seeded()
    {
        var strata = Enumerable.Range(0, 240).Select(i => (i % 8).ToString()).ToArray();
        var a = CrossValidation.StratifiedShuffleSplit(strata, 10, 0.9, seed: 1);
        var b = CrossValidation.StratifiedShuffleSplit(strata, 10, 0.9, seed: 1);
        Assert.Equal(10, a.Count);
        foreach (var f in a)
        {
            Assert.Empty(f.Train.Intersect(f.Test));
            Assert.Equal(240, f.Train.Length + f.Test.Length);
            Assert.All(f.Test.GroupBy(i => strata[i]), g => Assert.Equal(3, g.Count()));
        }
        Assert.Equal(a[3].Test, b[3].Test);
        Assert.NotEqual(a[0].Test, a[1].Test);
    }

    [Fact]
    public void LaMem_splits_map_listed_images_to_rows_and_name_missing_ones()
    {
        var dir = Directory.CreateTempSubdirectory("lamem").FullName;
        var ids = Enumerable.Range(0, 10).Select(i => $"img{i}.jpg").ToArray();
        for (int s = 1; s <= 5; s++)
        {
            File.WriteAllLines(Path.Combine(dir, $"train_{s}.txt"), ids.Take(6).Select(i => $"{i} 0.7"));
            File.WriteAllLines(Path.Combine(dir, $"val_{s}.txt"), ids.Skip(6).Take(2).Select(i => $"{i} 0.7"));
            File.WriteAllLines(Path.Combine(dir, $"test_{s}.txt"), ids.Skip(8).Select(i => $"{i} 0.7"));
        }
        var folds = CrossValidation.LaMem(dir, ids);
        Assert.Equal(5, folds.Count);
        Assert.Equal(new[] { 8, 9 }, folds[4].Test);
        Assert.Equal(new[] { 6, 7 }, folds[0].Validation);
        File.AppendAllLines(Path.Combine(dir, "test_3.txt"), new[] { "nothere.jpg 0.5" });
        var e = Assert.Throws<LayerLensException>(() => CrossValidation.LaMem(dir, ids));
        Assert.Contains("nothere.jpg (line 3)", e.Message);
    }
}
