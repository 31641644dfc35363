using System.Text.Json;
using LayerLens.Stats;

namespace LayerLens.Tests.Stats;

/// <summary>Statistics against scipy.stats / sklearn.metrics values in Fixtures/Stats/stats.json (scripts/fixtures/make_stats_fixtures.py).</summary>
public class StatsTests
{
    static readonly JsonElement Fx = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Stats", "stats.json"))).RootElement;

    static double[] D(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();
    static int[] I(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();

    static void Close(double expected, double actual, double rel = 1e-10, string what = "")
        => Assert.True(Math.Abs(expected - actual) <= rel * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");

    [Fact]
    public void Correlations_match_scipy_with_and_without_ties()
    {
        foreach (var c in Fx.GetProperty("cases").EnumerateArray())
        {
            var name = c.GetProperty("name").GetString()!;
            var x = D(c.GetProperty("x")); var y = D(c.GetProperty("y"));
            Close(c.GetProperty("pearson").GetDouble(), Correlation.Pearson(x, y), 1e-12, name + " pearson");
            Close(c.GetProperty("spearman").GetDouble(), Correlation.Spearman(x, y), 1e-12, name + " spearman");
            Close(c.GetProperty("kendall_b").GetDouble(), Correlation.KendallTauB(x, y), 1e-12, name + " kendall tau-b");
            if (c.GetProperty("kendall_a").ValueKind == JsonValueKind.Number)
                Close(c.GetProperty("kendall_a").GetDouble(), Correlation.KendallTauA(x, y), 1e-12, name + " kendall tau-a");
            Assert.Equal(D(c.GetProperty("ranks_x")), Ranks.Average(x));
        }
    }

    [Fact]
    public void R2_and_mse_match_scikit_learn()
    {
        foreach (var c in Fx.GetProperty("cases").EnumerateArray())
        {
            var y = D(c.GetProperty("y")); var yhat = D(c.GetProperty("yhat"));
            Close(c.GetProperty("r2").GetDouble(), Metrics.R2(y, yhat), 1e-12, "r2");
            Close(c.GetProperty("mse").GetDouble(), Metrics.Mse(y, yhat), 1e-12, "mse");
        }
    }

    [Fact]
    public void Accuracy_matches_scikit_learn()
    {
        var a = Fx.GetProperty("accuracy");
        Close(a.GetProperty("value").GetDouble(), Metrics.Accuracy(I(a.GetProperty("truth")), I(a.GetProperty("predicted"))));
    }

    [Fact]
    public void Fold_standard_error_matches_scipy_sem()
    {
        var s = Fx.GetProperty("sem");
        var v = D(s.GetProperty("values"));
        var f1 = FoldSummary.Of(v);
        Close(s.GetProperty("mean").GetDouble(), f1.Mean, 1e-12, "mean");
        Close(s.GetProperty("sem").GetDouble(), f1.StandardError, 1e-12, "sem ddof=1");
        Close(s.GetProperty("sem_ddof0").GetDouble(), FoldSummary.Of(v, ddof: 0).StandardError, 1e-12, "sem ddof=0");
    }

    [Fact]
    public void Permutation_p_value_is_near_the_exact_enumeration()
    {
        var p = Fx.GetProperty("permutation");
        var x = D(p.GetProperty("x")); var y = D(p.GetProperty("y"));
        var r = Resampling.PermutationTest(x, y, (a, b) => Correlation.Pearson(a, b), permutations: 20000, seed: 3);
        Close(p.GetProperty("r").GetDouble(), r.Observed, 1e-12, "observed r");
        double exact = p.GetProperty("p").GetDouble();
        // Monte Carlo standard error of p with 20000 draws is ≤ 0.0035; allow 4 of them.
        Assert.InRange(r.PValue, exact - 0.014, exact + 0.014);
        Assert.True(r.NullLow < 0 && r.NullHigh > 0 && r.NullLow < r.Observed == r.Observed > r.NullLow);
        // Same seed, same answer.
        Assert.Equal(r.PValue, Resampling.PermutationTest(x, y, (a, b) => Correlation.Pearson(a, b), permutations: 20000, seed: 3).PValue);
    }

    [Fact]
    public void Bootstrap_interval_of_the_mean_is_near_scipy()
    {
        var b = Fx.GetProperty("bootstrap");
        var x = D(b.GetProperty("x"));
        var ci = Resampling.Bootstrap(x.Length, idx => idx.Average(i => x[i]), resamples: 20000, seed: 5);
        double width = b.GetProperty("high").GetDouble() - b.GetProperty("low").GetDouble();
        // Different random streams: the endpoints agree to Monte Carlo error, a few percent of the width.
        Assert.InRange(ci.Low, b.GetProperty("low").GetDouble() - 0.04 * width, b.GetProperty("low").GetDouble() + 0.04 * width);
        Assert.InRange(ci.High, b.GetProperty("high").GetDouble() - 0.04 * width, b.GetProperty("high").GetDouble() + 0.04 * width);
        Close(b.GetProperty("se").GetDouble(), ci.StandardError, 0.05, "bootstrap se");
        Assert.Equal(x.Average(), ci.Estimate, 12);
    }

    [Fact]
    public void Spearman_Brown_doubles_a_half_length_reliability_by_the_prophecy_formula()
    {
        Close(2 * 0.5 / 1.5, SplitHalf.SpearmanBrown(0.5), 1e-15);
        Close(3 * 0.4 / (1 + 2 * 0.4), SplitHalf.SpearmanBrown(0.4, 3), 1e-15);
    }

    [Fact]
    public void Split_half_consistency_recovers_the_reliability_of_planted_raters()
    {
        // 40 raters score 500 items as truth + noise with noise variance 40 × truth variance. A half (20 raters)
        // has noise variance 2, so halves correlate at 1/(1+2) = 1/3; Spearman–Brown gives the full-panel
        // reliability 1/(1+1) = 0.5.
        var rng = new Random(11);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var truth = Enumerable.Range(0, 500).Select(_ => Gauss()).ToArray();
        var raters = Enumerable.Range(0, 40).Select(_ => truth.Select(t => t + Math.Sqrt(40) * Gauss()).ToArray()).ToArray();
        var r = SplitHalf.Consistency(raters, splits: 25, seed: 1, spearman: false);
        Assert.InRange(r.Consistency, 0.5 - 0.05, 0.5 + 0.05);
        Assert.Equal(25, r.PerSplit.Length);
    }

    [Fact]
    public void Constant_input_is_an_error_not_NaN()
    {
        var c = new double[] { 1, 1, 1, 1 };
        var y = new double[] { 1, 2, 3, 4 };
        Assert.Throws<LayerLensException>(() => Correlation.Pearson(c, y));
        Assert.Throws<LayerLensException>(() => Correlation.Spearman(c, y));
        Assert.Throws<LayerLensException>(() => Correlation.KendallTauB(c, y));
        Assert.Throws<LayerLensException>(() => Metrics.R2(c, y));
        Assert.Throws<LayerLensException>(() => Correlation.Pearson(new[] { 1.0, double.NaN, 3 }, new[] { 1.0, 2, 3 }));
    }
}
