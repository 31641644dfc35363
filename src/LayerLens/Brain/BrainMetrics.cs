using static TorchSharp.torch;

namespace LayerLens.Brain;

/// <summary>The brain-similarity metrics by the names the CLI and sweep configs use.</summary>
public static class BrainMetrics
{
    /// <summary>pls and ridge (neural predictivity), rsa, rsa-euclidean, rsa-tau, cka, cka-rbf.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "pls", "ridge", "rsa", "rsa-euclidean", "rsa-tau", "cka", "cka-rbf" };

    /// <summary>Scores features X (rows matched to the assembly by <paramref name="ids"/>) with the named metric.</summary>
    public static BrainScore Score(string metric, Tensor X, IReadOnlyList<string> ids, NeuralAssembly assembly, int splits, int seed) => metric switch
    {
        "pls" => NeuralPredictivity.Score(X, ids, assembly, NeuralRegression.Pls, splits, 0.9, seed),
        "ridge" => NeuralPredictivity.Score(X, ids, assembly, NeuralRegression.Ridge, splits, 0.9, seed),
        "rsa" => Rsa.Score(X, ids, assembly, RdmDistance.Correlation, RdmComparison.Spearman, splits, seed),
        "rsa-euclidean" => Rsa.Score(X, ids, assembly, RdmDistance.Euclidean, RdmComparison.Spearman, splits, seed),
        "rsa-tau" => Rsa.Score(X, ids, assembly, RdmDistance.Correlation, RdmComparison.KendallTauA, splits, seed),
        "cka" => Cka.Score(X, ids, assembly, CkaKernel.Linear, splits, seed),
        "cka-rbf" => Cka.Score(X, ids, assembly, CkaKernel.Rbf, splits, seed),
        _ => throw new LayerLensException($"neural metric '{metric}' is unknown (expected {string.Join(", ", Names)})", ErrorKind.Usage),
    };
}
