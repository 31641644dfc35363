using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Features;

/// <summary>
/// Turns one layer's activation for a batch ([N, ...]) into a fixed-length vector per image ([N, D]).
/// Activations of rank 4 are read as [N, C, H, W]; rank 3 as tokens [N, T, D]; rank 2 as [N, D].
/// </summary>
public abstract class FeatureReducer
{
    /// <summary>The spec as given (gap, grid:2, rp:512, ...): recorded in provenance.</summary>
    public abstract string Spec { get; }

    /// <summary>Reduces a batch; the result is float32, contiguous, on the CPU.</summary>
    public abstract Tensor Reduce(string layer, Tensor activation);

    /// <summary>Whether this reducer must first see reference data (PCA).</summary>
    public virtual bool NeedsFit => false;

    /// <summary>Known reducer names for help texts.</summary>
    public const string Help = "none, gap, gmp, grid:K, stats, rp:D, pca:D, cls, mean";

    /// <summary>Parses a reducer spec; <paramref name="seed"/> drives random projections.</summary>
    public static FeatureReducer Parse(string spec, long seed = 0)
    {
        var s = spec.Trim().ToLowerInvariant();
        var parts = s.Split(':', 2);
        int Arg(string what)
        {
            if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var k) || k <= 0)
                throw new LayerLensException($"reducer '{spec}': {parts[0]} needs a positive {what}, e.g. {parts[0]}:{(parts[0] == "grid" ? 2 : 256)}", ErrorKind.Usage);
            return k;
        }
        return parts[0] switch
        {
            "none" or "flatten" => new SimpleReducer("none", Flatten),
            "gap" => new SimpleReducer("gap", x => Spatial(x, t => t.mean(new long[] { 2 }))),
            "gmp" => new SimpleReducer("gmp", x => Spatial(x, t => t.amax(new long[] { 2 }))),
            "stats" => new SimpleReducer("stats", x => Spatial(x, t => cat(new[] { t.mean(new long[] { 2 }), t.std(2, unbiased: false) }, 1))),
            "grid" => GridReducer(Arg("grid size K")),
            "cls" => new SimpleReducer("cls", x => Tokens(x, "cls", t => t.select(1, 0))),
            "mean" => new SimpleReducer("mean", x => Tokens(x, "mean", t => t.mean(new long[] { 1 }))),
            "rp" => new SparseRandomProjection(Arg("dimension D"), seed),
            "pca" => new PcaReducer(Arg("number of components D")),
            _ => throw new LayerLensException($"unknown reducer '{spec}' (known: {Help})", ErrorKind.Usage),
        };
    }

    static FeatureReducer GridReducer(int k) => new SimpleReducer($"grid:{k}", x =>
    {
        if (x.dim() != 4) return Flatten(x);
        return F.adaptive_avg_pool2d(x, new long[] { k, k }).flatten(1);
    });

    static Tensor Flatten(Tensor x) => x.dim() == 1 ? x.unsqueeze(1) : x.flatten(1);

    // Rank-4 maps: reduce over H·W per channel. Rank 3 is read as [N, C, L] (1-D maps); rank 2 is already a vector.
    static Tensor Spatial(Tensor x, Func<Tensor, Tensor> reduce)
    {
        if (x.dim() <= 2) return Flatten(x);
        return reduce(x.flatten(2));
    }

    static Tensor Tokens(Tensor x, string name, Func<Tensor, Tensor> reduce)
    {
        if (x.dim() != 3)
            throw new LayerLensException($"reducer '{name}' needs token activations [N, T, D]; got [{string.Join(",", x.shape)}] (use gap for convolutional maps)", ErrorKind.Usage);
        return reduce(x);
    }

    sealed class SimpleReducer(string spec, Func<Tensor, Tensor> f) : FeatureReducer
    {
        public override string Spec => spec;

        public override Tensor Reduce(string layer, Tensor activation)
        {
            using var scope = NewDisposeScope();
            return f(activation.detach().to(ScalarType.Float32)).contiguous().cpu().MoveToOuterDisposeScope();
        }
    }

    /// <summary>A stable 64-bit value from a string (layer names seed per-layer projections).</summary>
    public static long StableHash(string s)
    {
        var h = SHA256.HashData(Encoding.UTF8.GetBytes(s));
        return BitConverter.ToInt64(h, 0) & long.MaxValue;
    }
}

/// <summary>
/// Sparse random projection to D dimensions: every input feature is added, with a random sign, to
/// s = max(1, round(D/√F)) distinct random output coordinates and scaled by 1/√s (a sparse
/// Johnson–Lindenstrauss embedding; the density 1/√F is Li, Hastie and Church's "very sparse" choice).
/// Only the F·s (index, sign) pairs are kept, never a dense F×D matrix. They are drawn from the seed
/// and the layer's name, so a layer projects the same way in every run and every batch.
/// </summary>
public sealed class SparseRandomProjection : FeatureReducer
{
    readonly ConcurrentDictionary<(string, long), (Tensor Index, Tensor Sign, int S)> _plans = new();

    public SparseRandomProjection(int dimension, long seed)
    {
        Dimension = dimension;
        Seed = seed;
    }

    public int Dimension { get; }
    public long Seed { get; }
    public override string Spec => $"rp:{Dimension}";

    public override Tensor Reduce(string layer, Tensor activation)
    {
        using var scope = NewDisposeScope();
        var x = activation.detach().to(ScalarType.Float32).cpu().flatten(1);
        long f = x.shape[1];
        var (index, sign, s) = _plans.GetOrAdd((layer, f), key => Plan(key.Item1, key.Item2));
        var y = zeros(x.shape[0], Dimension, ScalarType.Float32);
        for (int r = 0; r < s; r++)
            y.index_add_(1, index[r], x.mul(sign[r]), 1);
        if (s > 1) y.div_(MathF.Sqrt(s));
        return y.MoveToOuterDisposeScope();
    }

    (Tensor, Tensor, int) Plan(string layer, long features)
    {
        int s = (int)Math.Max(1, Math.Round(Dimension / Math.Sqrt(features)));
        s = Math.Min(s, Dimension);
        var gen = new torch.Generator((ulong)(FeatureReducer.StableHash($"{Seed}|{layer}") & 0x7fffffffffffffff));
        // Distinct output coordinates per feature: offsets r·step from a random start modulo D, step odd
        // relative positions drawn once, so rows never collide within one feature.
        var start = randint(0, Dimension, new long[] { features }, dtype: ScalarType.Int64, generator: gen);
        var idx = new Tensor[s];
        var stride = Math.Max(1, Dimension / s);
        for (int r = 0; r < s; r++) idx[r] = start.add(r * stride).remainder(Dimension);
        var signs = randint(0, 2, new long[] { s, features }, dtype: ScalarType.Float32, generator: gen).mul_(2).sub_(1);
        var index = stack(idx).DetachFromDisposeScope();
        signs.DetachFromDisposeScope();
        start.Dispose();
        foreach (var t in idx) t.Dispose();
        return (index, signs, s);
    }
}
