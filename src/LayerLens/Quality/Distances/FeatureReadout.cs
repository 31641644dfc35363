using static TorchSharp.torch;

namespace LayerLens.Quality.Distances;

/// <summary>
/// How a deep distance reads one layer's activations of a reference and a distorted image. Each readout
/// reduces the pair to per-channel terms ("contributions", [N, K]); a distance is <see cref="Finish"/> of their
/// weighted sum. Because the weighted sum is linear in the channel weights, learning channel relevance and
/// combining layers (a concatenation is just more columns) work the same for every readout.
/// </summary>
public abstract class FeatureReadout
{
    /// <summary>Name as given on the command line.</summary>
    public abstract string Name { get; }

    /// <summary>Per-channel terms of the pair, float64 [N, K]; reference may have N = 1 (broadcast).</summary>
    public abstract Tensor Contributions(Tensor reference, Tensor distorted);

    /// <summary>Weights used when none are learned, for a readout over <paramref name="totalTerms"/> columns.</summary>
    public virtual double DefaultWeight(long totalTerms) => 1.0;

    /// <summary>Turns the weighted sum of contributions into the distance.</summary>
    public abstract Tensor Finish(Tensor weightedSum);

    /// <summary>Brings learned or given weights to the readout's scale (DISTS keeps its weights summing to one).</summary>
    public virtual Tensor Normalise(Tensor weights) => weights.alias();

    /// <summary>Readouts by name: l2, lpips, stats (channel mean and standard deviation), gram, dists.</summary>
    public static FeatureReadout Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "l2" => new L2Readout(),
        "lpips" => new LpipsReadout(),
        "stats" => new StatsReadout(),
        "gram" => new GramReadout(),
        "dists" => new DistsReadout(),
        _ => throw new LayerLensException($"unknown readout '{name}' (expected l2, lpips, stats, gram or dists)", ErrorKind.Usage),
    };

    public static IReadOnlyList<string> Names { get; } = new[] { "l2", "lpips", "stats", "gram", "dists" };

    /// <summary>Activations as float64 [N, C, S] (S spatial positions; flat layers have S = 1).</summary>
    protected static Tensor Spatial(Tensor t)
    {
        var x = t.to_type(ScalarType.Float64);
        return t.dim() switch
        {
            2 => x.unsqueeze(-1),
            >= 3 => x.flatten(2),
            _ => throw new LayerLensException($"deep distance needs activations of at least [N,C], got [{string.Join(",", t.shape)}]", ErrorKind.BadInput),
        };
    }
}

/// <summary>Euclidean distance between activations; a concatenation of layers is the root of summed squares.</summary>
public sealed class L2Readout : FeatureReadout
{
    public override string Name => "l2";
    public override Tensor Contributions(Tensor reference, Tensor distorted) =>
        (Spatial(reference) - Spatial(distorted)).square().sum(2);
    public override Tensor Finish(Tensor weightedSum) => weightedSum.clamp_min(0).sqrt();
}

/// <summary>
/// LPIPS's readout (Zhang et al., 2018): each spatial feature vector divided by its norm across channels,
/// squared differences per channel averaged over space; with unit weights the channels are summed (LPIPS
/// without its learned linear layer), and layers are summed.
/// </summary>
public sealed class LpipsReadout : FeatureReadout
{
    const double Eps = 1e-10; // LPIPS's normalize_tensor epsilon: keeps all-zero vectors at zero, not NaN

    public override string Name => "lpips";
    public override Tensor Contributions(Tensor reference, Tensor distorted)
    {
        if (reference.dim() < 3 || distorted.dim() != reference.dim() || distorted.shape[0] < reference.shape[0])
        {
            var x2 = Spatial(reference);
            var y2 = Spatial(distorted);
            var xn2 = x2 / (x2.square().sum(1, keepdim: true).sqrt() + Eps);
            var yn2 = y2 / (y2.square().sum(1, keepdim: true).sqrt() + Eps);
            return (xn2 - yn2).square().mean(new long[] { 2 });
        }
        // Works on the activations' own layout (streamed taps are often channels-last, where flattening the spatial
        // dims would copy), and the distorted batch — the large side — is updated in place on its float64 copy.
        var spatial = Enumerable.Range(2, (int)reference.dim() - 2).Select(i => (long)i).ToArray();
        var x = reference.to_type(ScalarType.Float64);
        var xn = x / x.square().sum(1, keepdim: true).sqrt_().add_(Eps);
        var y = distorted.dtype == ScalarType.Float64 ? distorted.clone() : distorted.to_type(ScalarType.Float64);
        var norm = y.square().sum(1, keepdim: true).sqrt_().add_(Eps);
        var d = y.div_(norm).sub_(xn);
        return d.mul_(d).mean(spatial);
    }
    public override Tensor Finish(Tensor weightedSum) => weightedSum.alias();
}

/// <summary>Distance between per-channel spatial statistics: mean and (population) standard deviation.</summary>
public sealed class StatsReadout : FeatureReadout
{
    public override string Name => "stats";
    public override Tensor Contributions(Tensor reference, Tensor distorted)
    {
        var x = Spatial(reference);
        var y = Spatial(distorted);
        var dm = x.mean(new long[] { 2 }) - y.mean(new long[] { 2 });
        var ds = x.std(2, unbiased: false) - y.std(2, unbiased: false);
        return dm.square() + ds.square();
    }
    public override Tensor Finish(Tensor weightedSum) => weightedSum.clamp_min(0).sqrt();
}

/// <summary>
/// Frobenius distance between Gram matrices F·Fᵀ / S (style statistics, Gatys et al.); the term of channel c is
/// the squared difference of Gram row c, so a channel weight scales the correlations that channel takes part in.
/// </summary>
public sealed class GramReadout : FeatureReadout
{
    public override string Name => "gram";
    public override Tensor Contributions(Tensor reference, Tensor distorted)
    {
        var x = Spatial(reference);
        var y = Spatial(distorted);
        var s = x.shape[2];
        var gx = x.matmul(x.transpose(1, 2)) / s;
        var gy = y.matmul(y.transpose(1, 2)) / s;
        return (gx - gy).square().sum(2);
    }
    public override Tensor Finish(Tensor weightedSum) => weightedSum.clamp_min(0).sqrt();
}

/// <summary>
/// DISTS-style readout (Ding et al., 2020): per channel a texture term from spatial means,
/// (2 μx μy + c1) / (μx² + μy² + c1), and a structure term from spatial covariance,
/// (2 σxy + c2) / (σx² + σy² + c2), with c1 = c2 = 1e-6; distance = 1 − Σ (α·texture + β·structure) with
/// weights summing to one (uniform by default). Columns are [texture of all channels, structure of all channels].
/// </summary>
public sealed class DistsReadout : FeatureReadout
{
    const double C1 = 1e-6, C2 = 1e-6;

    public override string Name => "dists";
    public override Tensor Contributions(Tensor reference, Tensor distorted)
    {
        var x = Spatial(reference);
        var y = Spatial(distorted);
        var mx = x.mean(new long[] { 2 }, keepdim: true);
        var my = y.mean(new long[] { 2 }, keepdim: true);
        var texture = ((mx * my * 2 + C1) / (mx.square() + my.square() + C1)).squeeze(2);
        var vx = (x - mx).square().mean(new long[] { 2 });
        var vy = (y - my).square().mean(new long[] { 2 });
        var cov = (x * y).mean(new long[] { 2 }) - (mx * my).squeeze(2);
        var structure = (cov * 2 + C2) / (vx + vy + C2);
        if (texture.shape[0] != structure.shape[0]) texture = texture.expand(structure.shape);
        return cat(new[] { texture, structure }, 1);
    }
    public override double DefaultWeight(long totalTerms) => 1.0 / totalTerms;
    public override Tensor Normalise(Tensor weights) => weights / weights.sum().clamp_min(1e-300);
    public override Tensor Finish(Tensor weightedSum) => 1 - weightedSum;
}
