using LayerLens.Readout;
using LayerLens.Stats;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Brain;

/// <summary>A brain-similarity score with its ceiling, as Brain-Score reports it: raw, ceiling, ceiled = raw / ceiling, and errors.</summary>
public sealed record BrainScore(string Metric, double Raw, double RawError, double Ceiling, double Ceiled, double CeiledError,
    double[] PerSplit, int Stimuli, int Neuroids, int Seed);

/// <summary>Features of the stimuli in an assembly, matched by stimulus_id to the rows of a feature matrix.</summary>
public static class StimulusMatch
{
    /// <summary>Rows of <paramref name="featureIds"/> for each stimulus; any stimulus without features is an error listing a few.</summary>
    public static long[] Rows(IReadOnlyList<string> stimuli, IReadOnlyList<string> featureIds, string source)
    {
        var pos = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < featureIds.Count; i++) pos.TryAdd(featureIds[i], i);
        var missing = stimuli.Where(s => !pos.ContainsKey(s)).ToArray();
        if (missing.Length > 0)
            throw new LayerLensException($"{source}: {missing.Length} of {stimuli.Count} stimulus ids have no features, e.g. {string.Join(", ", missing.Take(5))}", ErrorKind.BadInput);
        return stimuli.Select(s => pos[s]).ToArray();
    }
}

/// <summary>Which regression maps model features to neuroids.</summary>
public enum NeuralRegression { Pls, Ridge }

/// <summary>
/// Brain-Score's neural predictivity (metric 'pls'): repetitions averaged per stimulus; 10 stratified shuffle splits
/// (train 0.9, stratified on object_name, split by stimulus); the regression is fitted on the training stimuli only;
/// Pearson r per neuroid on the held-out stimuli; median over neuroids; mean over splits with Brain-Score's standard
/// error (std with ddof 0 over splits / √splits).
/// </summary>
public static class NeuralPredictivity
{
    public static BrainScore Score(Tensor features, IReadOnlyList<string> featureIds, NeuralAssembly assembly,
        NeuralRegression regression = NeuralRegression.Pls, int splits = 10, double trainFraction = 0.9, int seed = 1, int components = 25)
    {
        var (stimuli, objects) = assembly.Stimuli();
        var rows = StimulusMatch.Rows(stimuli, featureIds, assembly.Source);
        using var scope = NewDisposeScope();
        var X = features.index_select(0, tensor(rows)).to_type(ScalarType.Float64);
        var Y = assembly.AverageRepetitions();
        var folds = CrossValidation.StratifiedShuffleSplit(objects ?? stimuli.Select(_ => "").ToArray(), splits, trainFraction, seed);
        var per = PerSplit(X, Y, folds, regression, components, assembly.Source);
        var ceiling = SplitHalfCeiling.Compute(assembly, splits, seed);
        return Combine("neural_predictivity_" + regression.ToString().ToLowerInvariant(), per, ceiling, stimuli.Length, (int)Y.shape[1], seed);
    }

    internal static BrainScore Combine(string metric, double[] per, double ceiling, int stimuli, int neuroids, int seed)
    {
        var s = FoldSummary.Of(per, ddof: 0);
        if (!(ceiling > 0))
            throw new LayerLensException($"{metric}: the ceiling is {ceiling:g3} (the responses are not consistent across repetitions), so a ceiled score is meaningless", ErrorKind.BadInput);
        return new BrainScore(metric, s.Mean, s.StandardError, ceiling, s.Mean / ceiling, s.StandardError / ceiling, per, stimuli, neuroids, seed);
    }

    /// <summary>Median-over-neuroids held-out Pearson r for each given split of the stimuli (rows of X and Y).</summary>
    public static double[] PerSplit(Tensor X, Tensor Y, IReadOnlyList<Fold> folds, NeuralRegression regression, int components = 25, string source = "neural data")
    {
        var per = new double[folds.Count];
        foreach (var f in folds)
        {
            using var scope = NewDisposeScope();
            var tr = tensor(f.Train.Select(i => (long)i).ToArray());
            var te = tensor(f.Test.Select(i => (long)i).ToArray());
            using IFittedReadout model = regression == NeuralRegression.Pls
                ? PlsRegression.Fit(X.index_select(0, tr), Y.index_select(0, tr), Math.Min(components, Math.Min(f.Train.Length, (int)X.shape[1])))
                : RidgeCv.Fit(X.index_select(0, tr), Y.index_select(0, tr));
            var pred = model.Predict(X.index_select(0, te));
            per[f.Index] = MedianPearson(pred, Y.index_select(0, te), $"{source}: split {f.Index}");
        }
        return per;
    }

    /// <summary>
    /// Pearson r per column, median over columns. Columns constant in either input have no correlation; they are left
    /// out of the median (as NaN-skipping would) and only an all-constant input is an error.
    /// </summary>
    public static double MedianPearson(Tensor a, Tensor b, string what)
    {
        using var scope = NewDisposeScope();
        var ac = a - a.mean(new long[] { 0 }); var bc = b - b.mean(new long[] { 0 });
        var num = (ac * bc).sum(0L);
        var den = (ac.square().sum(0L) * bc.square().sum(0L)).sqrt();
        var r = (num / den).data<double>().ToArray();
        var ok = r.Where(double.IsFinite).ToArray();
        if (ok.Length == 0) throw new LayerLensException($"{what}: every neuroid is constant on the held-out stimuli", ErrorKind.BadInput);
        return Resampling.Median(ok);
    }
}

/// <summary>
/// Brain-Score's internal-consistency ceiling: the repetitions are split in halves (10 random splits), each half is
/// averaged per stimulus, Pearson r per neuroid between the halves, Spearman–Brown corrected, median over neuroids,
/// mean over splits.
/// </summary>
public static class SplitHalfCeiling
{
    public static double Compute(NeuralAssembly assembly, int splits = 10, int seed = 1)
        => PerSplit(assembly, Halves(assembly, splits, seed)).Average();

    public static IReadOnlyList<(int[] A, int[] B)> Halves(NeuralAssembly assembly, int splits, int seed)
    {
        var reps = assembly.Repetition.Distinct().OrderBy(r => r).ToArray();
        if (reps.Length < 2)
            throw new LayerLensException($"{assembly.Source}: a ceiling needs at least two repetitions per stimulus (found {reps.Length})", ErrorKind.BadInput);
        var rng = new Random(seed);
        var result = new List<(int[], int[])>();
        for (int s = 0; s < splits; s++)
        {
            var p = (int[])reps.Clone();
            rng.Shuffle(p);
            result.Add((p[..(p.Length / 2)], p[(p.Length / 2)..]));
        }
        return result;
    }

    public static double[] PerSplit(NeuralAssembly assembly, IReadOnlyList<(int[] A, int[] B)> halves)
    {
        return halves.Select((h, i) =>
        {
            using var scope = NewDisposeScope();
            var a = assembly.AverageRepetitions(new HashSet<int>(h.A));
            var b = assembly.AverageRepetitions(new HashSet<int>(h.B));
            var ac = a - a.mean(new long[] { 0 }); var bc = b - b.mean(new long[] { 0 });
            var r = ((ac * bc).sum(0L) / (ac.square().sum(0L) * bc.square().sum(0L)).sqrt()).data<double>().ToArray();
            var ok = r.Where(double.IsFinite).Select(v => SplitHalf.SpearmanBrown(v)).ToArray();
            if (ok.Length == 0) throw new LayerLensException($"{assembly.Source}: every neuroid is constant", ErrorKind.BadInput);
            return Resampling.Median(ok);
        }).ToArray();
    }
}
