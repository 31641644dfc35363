using System.Text.Json;
using LayerLens.Brain;
using LayerLens.IO;
using LayerLens.Readout;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Brain;

/// <summary>
/// Neural data reading and Brain-Score-style metrics against numpy/scipy/scikit-learn values in Fixtures/Brain
/// (scripts/fixtures/make_brain_fixtures.py), computed there on the same explicit splits and repetition halves.
/// </summary>
public class BrainTests
{
    static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Brain");
    static readonly JsonElement Fx = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "brain.json"))).RootElement;
    static double[] D(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();
    static int[] I(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();
    static string[] Ids => File.ReadAllLines(Path.Combine(Dir, "feature_ids.txt")).Where(l => l.Length > 0).ToArray();

    static void Close(double expected, double actual, double rel, string what)
        => Assert.True(Math.Abs(expected - actual) <= rel * Math.Max(1e-3, Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");

    [Fact]
    public void Folder_and_netCDF_assemblies_read_the_same_responses_and_coordinates()
    {
        using var a = NeuralAssembly.Read(Path.Combine(Dir, "folder"));
        using var b = NeuralAssembly.Read(Path.Combine(Dir, "assembly.nc"));
        Assert.Equal(new long[] { 240, 12 }, a.Responses.shape);
        Assert.Equal(a.StimulusId, b.StimulusId);
        Assert.Equal(a.Repetition, b.Repetition);
        Assert.Equal(a.ObjectName, b.ObjectName);
        Assert.Equal(a.NeuroidId, b.NeuroidId);
        Assert.Equal(a.Region, b.Region);
        Assert.True(a.Responses.allclose(b.Responses, rtol: 0, atol: 0));
        using var it = a.SelectRegion("IT");
        using var mean = it.AverageRepetitions();
        var expected = Fx.GetProperty("responses_it_mean").EnumerateArray().SelectMany(r => D(r)).ToArray();
        var got = mean.data<double>().ToArray();
        for (int i = 0; i < expected.Length; i++) Close(expected[i], got[i], 1e-12, $"mean[{i}]");
    }

    [Fact]
    public void Neural_predictivity_per_split_matches_scikit_learn_PLS_with_median_Pearson()
    {
        using var assembly = NeuralAssembly.Read(Path.Combine(Dir, "folder")).SelectRegion("IT");
        using var features = Npy.Read(Path.Combine(Dir, "features.npy"));
        var (stimuli, _) = assembly.Stimuli();
        var rows = StimulusMatch.Rows(stimuli, Ids, "fixture");
        using var X = features.index_select(0, tensor(rows));
        using var Y = assembly.AverageRepetitions();
        var folds = Fx.GetProperty("folds").EnumerateArray().Select((f, i) => new Fold(i, I(f.GetProperty("train")), I(f.GetProperty("test")))).ToArray();
        var per = NeuralPredictivity.PerSplit(X, Y, folds, NeuralRegression.Pls);
        var expected = D(Fx.GetProperty("per_split"));
        for (int i = 0; i < per.Length; i++) Close(expected[i], per[i], 1e-6, $"split {i}");
    }

    [Fact]
    public void Split_half_ceiling_matches_numpy_Spearman_Brown_median()
    {
        using var assembly = NeuralAssembly.Read(Path.Combine(Dir, "assembly.nc")).SelectRegion("IT");
        var halves = Fx.GetProperty("halves").EnumerateArray().Select(h => (I(h.GetProperty("a")), I(h.GetProperty("b")))).ToArray();
        var per = SplitHalfCeiling.PerSplit(assembly, halves);
        var expected = D(Fx.GetProperty("ceiling_per_split"));
        for (int i = 0; i < per.Length; i++) Close(expected[i], per[i], 1e-10, $"half split {i}");
    }

    [Fact]
    public void Neural_predictivity_reports_raw_ceiling_and_ceiled_score()
    {
        using var assembly = NeuralAssembly.Read(Path.Combine(Dir, "folder")).SelectRegion("IT");
        using var features = Npy.Read(Path.Combine(Dir, "features.npy"));
        var s = NeuralPredictivity.Score(features, Ids, assembly, seed: 3);
        // The planted linear signal is strong: held-out r close to the fixture's (different-split) mean of 0.83.
        Assert.InRange(s.Raw, 0.7, 0.95);
        Assert.InRange(s.Ceiling, 0.85, 0.98);
        Assert.Equal(s.Raw / s.Ceiling, s.Ceiled, 12);
        Assert.Equal(10, s.PerSplit.Length);
        Assert.True(s.RawError > 0);
        Assert.Equal(40, s.Stimuli);
        Assert.Equal(8, s.Neuroids);
    }

    [Fact]
    public void Rdms_and_rsa_match_scipy_pdist_spearman_and_tau_a()
    {
        using var assembly = NeuralAssembly.Read(Path.Combine(Dir, "folder")).SelectRegion("IT");
        using var features = Npy.Read(Path.Combine(Dir, "features.npy"));
        using var X = features.narrow(0, 0, 40);
        var corr = Rsa.Rdm(X);
        var euc = Rsa.Rdm(X, RdmDistance.Euclidean);
        var ec = D(Fx.GetProperty("rdm_model_correlation")); var ee = D(Fx.GetProperty("rdm_model_euclidean"));
        for (int i = 0; i < ec.Length; i++) { Close(ec[i], corr[i], 1e-10, $"corr rdm {i}"); Close(ee[i], euc[i], 1e-10, $"euclid rdm {i}"); }
        var s1 = Rsa.Score(features, Ids, assembly);
        Close(Fx.GetProperty("rsa_spearman_correlation").GetDouble(), s1.Raw, 1e-10, "rsa spearman");
        var s2 = Rsa.Score(features, Ids, assembly, RdmDistance.Euclidean, RdmComparison.KendallTauA);
        Close(Fx.GetProperty("rsa_tau_a_euclidean").GetDouble(), s2.Raw, 1e-10, "rsa tau-a");
        Assert.True(s1.Ceiling > 0 && s1.Ceiling <= 1);
    }

    [Fact]
    public void Cka_linear_and_rbf_match_numpy()
    {
        using var assembly = NeuralAssembly.Read(Path.Combine(Dir, "folder")).SelectRegion("IT");
        using var features = Npy.Read(Path.Combine(Dir, "features.npy"));
        Close(Fx.GetProperty("cka_linear").GetDouble(), Cka.Score(features, Ids, assembly).Raw, 1e-10, "linear CKA");
        Close(Fx.GetProperty("cka_rbf").GetDouble(), Cka.Score(features, Ids, assembly, CkaKernel.Rbf).Raw, 1e-10, "RBF CKA");
    }

    [Fact]
    public void Unmatched_stimuli_and_empty_regions_are_one_line_errors()
    {
        using var assembly = NeuralAssembly.Read(Path.Combine(Dir, "folder"));
        using var features = Npy.Read(Path.Combine(Dir, "features.npy"));
        var ids = Ids.Select(i => i == "stim007" ? "other" : i).ToArray();
        var e = Assert.Throws<LayerLensException>(() => NeuralPredictivity.Score(features, ids, assembly));
        Assert.Contains("stim007", e.Message);
        var r = Assert.Throws<LayerLensException>(() => assembly.SelectRegion("V1"));
        Assert.Contains("IT, V4", r.Message);
        Assert.DoesNotContain('\n', e.Message + r.Message);
    }
}
