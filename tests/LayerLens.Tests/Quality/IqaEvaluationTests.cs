using System.Text.Json;
using LayerLens.Quality.Evaluation;

namespace LayerLens.Tests.Quality;

public class IqaEvaluationTests
{
    static JsonElement Reference()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(QualityFixtures.Dir, "expected.json")));
        return doc.RootElement.GetProperty("evaluation").Clone();
    }

    static double[] Array(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(v => v.GetDouble()).ToArray();

    [Fact]
    public void Correlations_and_logistic_fits_match_scipy_with_distance_oriented_so_higher_is_better()
    {
        var r = Reference();
        var s = IqaEvaluation.Evaluate(Array(r, "distance"), Array(r, "mos"), metricIsDistance: true, higherScoreIsBetter: true,
            new EvaluationOptions { BootstrapResamples = 200, Seed = 3 });
        Assert.Equal(r.GetProperty("srocc").GetDouble(), s.Srocc, 10);
        Assert.Equal(r.GetProperty("krocc").GetDouble(), s.Krocc, 10);
        Assert.Equal(r.GetProperty("plcc").GetDouble(), s.Plcc, 10);
        Assert.True(s.Srocc > 0.9); // a distance that tracks MOS inversely scores positively
        Assert.Equal(r.GetProperty("plcc4").GetDouble(), s.Plcc4, 4);
        Assert.Equal(r.GetProperty("rmse4").GetDouble(), s.Rmse4, 4);
        Assert.Equal(r.GetProperty("plcc5").GetDouble(), s.Plcc5, 4);
        Assert.Equal(r.GetProperty("rmse5").GetDouble(), s.Rmse5, 4);
        Assert.NotNull(s.SroccInterval);
        Assert.InRange(s.Srocc, s.SroccInterval!.Low, s.SroccInterval.High);
        Assert.True(s.SroccInterval.High - s.SroccInterval.Low > 0.001);
    }

    [Fact]
    public void Logistic_fits_reach_the_same_parameters_as_scipy_curve_fit()
    {
        var r = Reference();
        var x = Array(r, "distance").Select(v => -v).ToArray();
        var y = Array(r, "mos");
        var f4 = LogisticFits.Fit(LogisticKind.FourParameter, x, y);
        var b4 = Array(r, "beta4");
        for (int i = 0; i < 3; i++) Assert.InRange(f4.Parameters[i] - b4[i], -1e-4, 1e-4);
        Assert.InRange(Math.Abs(f4.Parameters[3]) - Math.Abs(b4[3]), -1e-4, 1e-4);
        var f5 = LogisticFits.Fit(LogisticKind.FiveParameter, x, y);
        foreach (var v in x) Assert.InRange(f5.Map(v) - LogisticFits.Evaluate(LogisticKind.FiveParameter, Array(r, "beta5"), v), -1e-4, 1e-4);
        Assert.True(f4.Increasing && f5.Increasing);
    }

    [Fact]
    public void Orientation_flips_with_dmos_and_with_similarity_metrics()
    {
        var r = Reference();
        var d = Array(r, "distance");
        var mos = Array(r, "mos");
        var opts = new EvaluationOptions { BootstrapResamples = 0, FitLogistic = false };
        var asDistance = IqaEvaluation.Evaluate(d, mos, true, true, opts).Srocc;
        var asSimilarityOnDmos = IqaEvaluation.Evaluate(d.Select(v => -v).ToArray(), mos.Select(v => 10 - v).ToArray(), false, false, opts).Srocc;
        Assert.Equal(asDistance, asSimilarityOnDmos, 12);
        var wrongWay = IqaEvaluation.Evaluate(d, mos, false, true, new EvaluationOptions { BootstrapResamples = 0 });
        Assert.True(wrongWay.Srocc < -0.9);
        Assert.True(wrongWay.Plcc4 < -0.9); // a falling fitted curve is reported as disagreement
    }

    [Fact]
    public void Per_type_results_group_pairs_by_distortion()
    {
        var r = Reference();
        var d = Array(r, "distance");
        var mos = Array(r, "mos");
        var types = d.Select((_, i) => i % 3 == 0 ? null : i % 3 == 1 ? "blur" : "noise").ToArray();
        var per = IqaEvaluation.PerType(d, mos, types, true, true, new EvaluationOptions { BootstrapResamples = 0, FitLogistic = false });
        Assert.Equal(new[] { "blur", "noise" }, per.Keys.ToArray());
        Assert.Equal(20, per["blur"].Pairs);
        var blurIdx = Enumerable.Range(0, d.Length).Where(i => types[i] == "blur").ToArray();
        var expected = LayerLens.Stats.Correlation.Spearman(blurIdx.Select(i => -d[i]).ToArray(), blurIdx.Select(i => mos[i]).ToArray());
        Assert.Equal(expected, per["blur"].Srocc, 12);
    }

    [Fact]
    public void Two_afc_score_and_jnd_map_match_numpy_transcription_of_lpips()
    {
        var r = Reference();
        Assert.Equal(r.GetProperty("two_afc").GetDouble(), PerceptualJudgements.TwoAfcScore(Array(r, "d0"), Array(r, "d1"), Array(r, "judge")), 12);
        Assert.Equal(r.GetProperty("jnd_map").GetDouble(), PerceptualJudgements.JndMeanAveragePrecision(Array(r, "jnd_distance"), Array(r, "jnd_same")), 12);
    }

    [Fact]
    public void Evaluation_rejects_nan_metrics_and_mismatched_counts()
    {
        Assert.Contains("pair 2", Assert.Throws<LayerLensException>(() => IqaEvaluation.Evaluate(new[] { 1, double.NaN, 3.0 }, new[] { 1, 2, 3.0 }, true, true)).Message);
        Assert.Contains("3 metric values but 2", Assert.Throws<LayerLensException>(() => IqaEvaluation.Evaluate(new[] { 1, 2, 3.0 }, new[] { 1, 2.0 }, true, true)).Message);
    }
}
