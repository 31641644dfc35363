using LayerLens.Brain;
using LayerLens.Readout;
using LayerLens.Stats;
using static TorchSharp.torch;

namespace LayerLens.Tests.Brain;

/// <summary>
/// Planted signals: three synthetic "layers"; memorability-like targets are a noisy linear function of layer B and
/// neural responses (with repetitions) of layer C. The readout must rank B first, the brain score must rank C first
/// with a ceiled score ≥ 0.9, and shuffled targets must stay inside the 95% permutation band.
/// (Synthetic Gaussian features stand in for a real graph's features here; the same check over a real graph's
/// layers, through the whole sweep, is Sweep/SweepPlantedTests.)
/// </summary>
public class PlantedSignalTests
{
    const int N = 200, D = 20;

    static Tensor[] Layers()
    {
        manual_seed(123);
        return Enumerable.Range(0, 3).Select(_ => randn(N, D, dtype: ScalarType.Float64)).ToArray();
    }

    [Fact]
    public void Readout_ranks_the_planted_layer_first_and_shuffled_targets_stay_in_the_permutation_band()
    {
        using var scope = NewDisposeScope();
        var layers = Layers();
        manual_seed(7);
        var y = (layers[1].mv(randn(D, dtype: ScalarType.Float64)) + 2.0 * randn(N, dtype: ScalarType.Float64)).data<double>().ToArray();
        var folds = CrossValidation.KFold(N, 5, seed: 0);
        var scores = layers.Select(l => CrossValidatedReadout.Run(l, y, folds, ReadoutModel.Ridge)[0].Summary.Mean).ToArray();
        Assert.Equal(1, Array.IndexOf(scores, scores.Max()));
        Assert.True(scores[1] > 0.8, $"planted layer spearman {scores[1]}");

        var shuffled = (double[])y.Clone();
        new Random(99).Shuffle(shuffled);
        var oof = CrossValidatedReadout.OutOfFold(layers[1], shuffled, folds, ReadoutModel.Ridge);
        var perm = Resampling.PermutationTest(shuffled, oof, (a, b) => Correlation.Spearman(a, b), permutations: 1000, seed: 5);
        Assert.InRange(perm.Observed, perm.NullLow, perm.NullHigh);
        var real = CrossValidatedReadout.OutOfFold(layers[1], y, folds, ReadoutModel.Ridge);
        var permReal = Resampling.PermutationTest(y, real, (a, b) => Correlation.Spearman(a, b), permutations: 1000, seed: 5);
        Assert.True(permReal.Observed > permReal.NullHigh && permReal.PValue < 0.01);
    }

    [Fact]
    public void Neural_predictivity_ranks_the_planted_layer_first_with_ceiled_score_at_least_0_9()
    {
        using var scope = NewDisposeScope();
        var layers = Layers();
        manual_seed(11);
        const int reps = 8, neuroids = 30;
        var signal = layers[2].mm(randn(D, neuroids, dtype: ScalarType.Float64)) / Math.Sqrt(D);
        var rows = new List<Tensor>(); var stim = new List<string>(); var rep = new List<int>(); var obj = new List<string>();
        for (int r = 0; r < reps; r++)
        {
            rows.Add(signal + 1.0 * randn(N, neuroids, dtype: ScalarType.Float64));
            for (int s = 0; s < N; s++) { stim.Add($"s{s}"); rep.Add(r); obj.Add($"o{s % 8}"); }
        }
        using var assembly = new NeuralAssembly(cat(rows, 0), stim.ToArray(), rep.ToArray(), obj.ToArray(),
            Enumerable.Range(0, neuroids).Select(i => $"n{i}").ToArray(), Enumerable.Repeat("IT", neuroids).ToArray(), "planted");
        var ids = Enumerable.Range(0, N).Select(s => $"s{s}").ToArray();
        var scores = layers.Select(l => NeuralPredictivity.Score(l, ids, assembly)).ToArray();
        var ceiled = scores.Select(s => s.Ceiled).ToArray();
        Assert.Equal(2, Array.IndexOf(ceiled, ceiled.Max()));
        Assert.True(ceiled[2] >= 0.9, $"planted layer ceiled {ceiled[2]}");
        Assert.True(ceiled[0] < 0.3 && ceiled[1] < 0.3, $"unrelated layers ceiled {ceiled[0]}, {ceiled[1]}");
    }
}
