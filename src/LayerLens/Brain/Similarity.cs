using LayerLens.Native;
using LayerLens.Stats;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Brain;

public enum RdmDistance { Correlation, Euclidean }
public enum RdmComparison { Spearman, KendallTauA }

/// <summary>Representational similarity analysis: RDMs over stimuli and their rank comparison (as rsatoolbox / THINGSvision).</summary>
public static class Rsa
{
    /// <summary>Upper triangle (row-major, i &lt; j, as scipy's pdist) of the stimulus × stimulus dissimilarity matrix of X [stimuli, features].</summary>
    public static double[] Rdm(Tensor x, RdmDistance distance = RdmDistance.Correlation)
    {
        using var scope = NewDisposeScope();
        var X = x.to_type(ScalarType.Float64);
        Tensor D;
        if (distance == RdmDistance.Correlation)
        {
            var c = X - X.mean(new long[] { 1 }, keepdim: true);
            var norm = c.square().sum(1, keepdim: true).sqrt();
            if ((norm == 0).any().ToBoolean())
                throw new LayerLensException("RDM: a stimulus has a constant response pattern, so its correlation distance is undefined; use Euclidean", ErrorKind.BadInput);
            c = c / norm;
            D = 1 - DenseLinalg.Gram(c, ofRows: true);
        }
        else
        {
            var sq = X.square().sum(1);
            D = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * DenseLinalg.Gram(X, ofRows: true)).clamp_min(0).sqrt();
        }
        long n = D.shape[0];
        var iu = triu_indices(n, n, 1);
        return D[iu[0], iu[1]].data<double>().ToArray();
    }

    public static double Compare(double[] a, double[] b, RdmComparison comparison = RdmComparison.Spearman)
        => comparison == RdmComparison.Spearman ? Correlation.Spearman(a, b, "RDM comparison") : Correlation.KendallTauA(a, b, "RDM comparison");

    /// <summary>RSA score of model features against an assembly, with a split-half (Spearman–Brown) ceiling over repetitions.</summary>
    public static BrainScore Score(Tensor features, IReadOnlyList<string> featureIds, NeuralAssembly assembly,
        RdmDistance distance = RdmDistance.Correlation, RdmComparison comparison = RdmComparison.Spearman, int splits = 10, int seed = 1)
    {
        var (stimuli, _) = assembly.Stimuli();
        var rows = StimulusMatch.Rows(stimuli, featureIds, assembly.Source);
        using var scope = NewDisposeScope();
        var model = Rdm(features.index_select(0, tensor(rows)), distance);
        var neural = Rdm(assembly.AverageRepetitions(), distance);
        double raw = Compare(model, neural, comparison);
        var halves = SplitHalfCeiling.Halves(assembly, splits, seed);
        var ceil = halves.Select(h => SplitHalf.SpearmanBrown(Compare(
            Rdm(assembly.AverageRepetitions(new HashSet<int>(h.A)), distance),
            Rdm(assembly.AverageRepetitions(new HashSet<int>(h.B)), distance), comparison))).ToArray();
        return NeuralPredictivity.Combine($"rsa_{distance}_{comparison}".ToLowerInvariant(), new[] { raw }, ceil.Average(), stimuli.Length, (int)assembly.Responses.shape[1], seed);
    }
}

public enum CkaKernel { Linear, Rbf }

/// <summary>Centered kernel alignment (Kornblith et al. 2019): HSIC(K, L) / √(HSIC(K, K) HSIC(L, L)) with centred Gram matrices.</summary>
public static class Cka
{
    /// <param name="x">[stimuli, features]</param>
    /// <param name="y">[stimuli, neuroids]</param>
    /// <param name="kernel">Linear, or RBF with bandwidth σ² = threshold² × median squared distance (Kornblith's reference code).</param>
    /// <param name="threshold">RBF bandwidth factor.</param>
    public static double Compute(Tensor x, Tensor y, CkaKernel kernel = CkaKernel.Linear, double threshold = 1.0)
    {
        if (x.shape[0] != y.shape[0]) throw new LayerLensException($"CKA: {x.shape[0]} and {y.shape[0]} stimuli do not pair up", ErrorKind.BadInput);
        using var scope = NewDisposeScope();
        var K = Center(Gram(x.to_type(ScalarType.Float64), kernel, threshold));
        var L = Center(Gram(y.to_type(ScalarType.Float64), kernel, threshold));
        double kl = (K * L).sum().ToDouble(), kk = (K * K).sum().ToDouble(), ll = (L * L).sum().ToDouble();
        if (kk == 0 || ll == 0) throw new LayerLensException("CKA: one representation is constant over stimuli", ErrorKind.BadInput);
        return kl / Math.Sqrt(kk * ll);
    }

    static Tensor Gram(Tensor X, CkaKernel kernel, double threshold)
    {
        var dot = DenseLinalg.Gram(X, ofRows: true);
        if (kernel == CkaKernel.Linear) return dot;
        var sq = dot.diagonal();
        var d2 = -2 * dot + sq.unsqueeze(1) + sq.unsqueeze(0);
        var med = Resampling.Median(d2.flatten().data<double>().ToArray()); // numpy median: mean of the two middle values
        return (-d2 / (2 * threshold * threshold * med)).exp();
    }

    static Tensor Center(Tensor K)
    {
        var rowMean = K.mean(new long[] { 0 }, keepdim: true);
        var colMean = K.mean(new long[] { 1 }, keepdim: true);
        return K - rowMean - colMean + K.mean();
    }

    /// <summary>CKA of model features against an assembly's repetition-averaged responses, with a split-half ceiling.</summary>
    public static BrainScore Score(Tensor features, IReadOnlyList<string> featureIds, NeuralAssembly assembly,
        CkaKernel kernel = CkaKernel.Linear, int splits = 10, int seed = 1)
    {
        var (stimuli, _) = assembly.Stimuli();
        var rows = StimulusMatch.Rows(stimuli, featureIds, assembly.Source);
        using var scope = NewDisposeScope();
        double raw = Compute(features.index_select(0, tensor(rows)), assembly.AverageRepetitions(), kernel);
        var halves = SplitHalfCeiling.Halves(assembly, splits, seed);
        var ceil = halves.Select(h => Compute(assembly.AverageRepetitions(new HashSet<int>(h.A)), assembly.AverageRepetitions(new HashSet<int>(h.B)), kernel)).ToArray();
        return NeuralPredictivity.Combine($"cka_{kernel}".ToLowerInvariant(), new[] { raw }, ceil.Average(), stimuli.Length, (int)assembly.Responses.shape[1], seed);
    }
}
