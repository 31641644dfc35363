using LayerLens.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Quality.Distances;

/// <summary>What channel weights are fitted to.</summary>
public enum RelevanceObjective
{
    /// <summary>1 − Pearson correlation between distances and human scores.</summary>
    Pearson,
    /// <summary>Cross-entropy of LPIPS's 2AFC judgements: P(p1 judged closer) = σ(k·(d0 − d1)).</summary>
    TwoAfc,
}

/// <summary>Settings of channel-relevance learning; all full-batch and deterministic.</summary>
public sealed record RelevanceOptions
{
    public int Steps { get; init; } = 300;
    public double LearningRate { get; init; } = 0.05;
    /// <summary>True when a higher score means a worse image (DMOS); false for MOS, where distances should fall.</summary>
    public bool ScoresAreDistances { get; init; }
}

/// <summary>
/// Learns non-negative per-channel weights of a <see cref="FeatureReadout"/> on a training split. Weights are
/// softplus of free parameters (non-negative without projection) starting at the readout's default, and the
/// loss is computed through the readout's own <see cref="FeatureReadout.Finish"/>, so what is fitted is the
/// distance that will be reported.
/// </summary>
public static class ChannelRelevance
{
    /// <summary>Weights maximising the correlation of distances (from [n, K] terms) with scores.</summary>
    public static double[] FitCorrelation(FeatureReadout readout, Tensor terms, IReadOnlyList<double> scores, RelevanceOptions? options = null)
    {
        var o = options ?? new RelevanceOptions();
        TorchRuntime.EnsureLoaded();
        if (terms.shape[0] != scores.Count)
            throw new LayerLensException($"channel relevance: {terms.shape[0]} pairs of terms but {scores.Count} scores", ErrorKind.BadInput);
        if (scores.Count < 3)
            throw new LayerLensException($"channel relevance needs at least 3 training pairs, got {scores.Count}", ErrorKind.BadInput);
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var x = terms.to_type(ScalarType.Float64).detach();
        var target = tensor(scores.ToArray()) * (o.ScoresAreDistances ? 1.0 : -1.0);
        target = (target - target.mean()) / target.std(unbiased: false).clamp_min(1e-12);
        var theta = InitialParameters(readout, x.shape[1]);
        var opt = optim.Adam(new[] { theta }, lr: o.LearningRate);
        for (int step = 0; step < o.Steps; step++)
        {
            using var inner = NewDisposeScope();
            opt.zero_grad();
            var d = readout.Finish(x.matmul(readout.Normalise(nn.functional.softplus(theta))));
            var dc = d - d.mean();
            var r = (dc * target).mean() / dc.square().mean().sqrt().clamp_min(1e-12);
            var loss = 1 - r;
            loss.backward();
            opt.step();
        }
        return Final(readout, theta);
    }

    /// <summary>Weights fitted to 2AFC triplets: terms of (ref, p0) and (ref, p1) and the fraction preferring p1.</summary>
    public static double[] FitTwoAfc(FeatureReadout readout, Tensor terms0, Tensor terms1, IReadOnlyList<double> judge, RelevanceOptions? options = null)
    {
        var o = options ?? new RelevanceOptions();
        TorchRuntime.EnsureLoaded();
        if (terms0.shape[0] != judge.Count || terms1.shape[0] != judge.Count || terms0.shape[1] != terms1.shape[1])
            throw new LayerLensException($"2AFC relevance: terms [{string.Join(",", terms0.shape)}] and [{string.Join(",", terms1.shape)}] do not match {judge.Count} judgements", ErrorKind.BadInput);
        if (judge.Any(j => !(j >= 0 && j <= 1)))
            throw new LayerLensException("2AFC judgements must be fractions between 0 and 1", ErrorKind.BadInput);
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var x0 = terms0.to_type(ScalarType.Float64).detach();
        var x1 = terms1.to_type(ScalarType.Float64).detach();
        var h = tensor(judge.ToArray());
        var theta = InitialParameters(readout, x0.shape[1]);
        var logScale = new TorchSharp.Modules.Parameter(zeros(1, dtype: ScalarType.Float64));
        var opt = optim.Adam(new[] { theta, logScale }, lr: o.LearningRate);
        for (int step = 0; step < o.Steps; step++)
        {
            using var inner = NewDisposeScope();
            opt.zero_grad();
            var w = readout.Normalise(nn.functional.softplus(theta));
            var d0 = readout.Finish(x0.matmul(w));
            var d1 = readout.Finish(x1.matmul(w));
            // Distances of different readouts live on different scales; standardising the gap keeps one step size.
            var gap = d0 - d1;
            var logit = logScale.exp() * gap / gap.abs().mean().detach().clamp_min(1e-12);
            var loss = nn.functional.binary_cross_entropy_with_logits(logit, h);
            loss.backward();
            opt.step();
        }
        return Final(readout, theta);
    }

    static TorchSharp.Modules.Parameter InitialParameters(FeatureReadout readout, long k)
    {
        var w0 = readout.DefaultWeight(k);
        var inverseSoftplus = Math.Log(Math.Exp(w0) - 1);
        return new TorchSharp.Modules.Parameter(full(k, inverseSoftplus, dtype: ScalarType.Float64));
    }

    static double[] Final(FeatureReadout readout, Tensor theta)
    {
        using var noGrad = no_grad();
        using var w = readout.Normalise(nn.functional.softplus(theta));
        return w.data<double>().ToArray();
    }
}
