using System.Collections.Concurrent;
using static TorchSharp.torch;

namespace LayerLens.Features;

/// <summary>
/// PCA to D components per layer, fitted on a separate reference image set (Brain-Score fits 1,000
/// components on 1,000 ImageNet validation images) and then applied to each batch as it streams by.
/// Layers with at most D features are kept as they are, as Brain-Score does. Components follow
/// scikit-learn's PCA (full SVD of the centred data, signs fixed by svd_flip on U).
/// </summary>
public sealed class PcaReducer : FeatureReducer
{
    readonly ConcurrentDictionary<string, (Tensor Mean, Tensor Components)> _fits = new();

    public PcaReducer(int components) => Components = components;

    public int Components { get; }
    public override string Spec => $"pca:{Components}";
    public override bool NeedsFit => true;

    /// <summary>Whether a layer with this many features per image is projected (otherwise kept as is).</summary>
    public bool Projects(long features) => features > Components;

    public bool IsFitted(string layer) => _fits.ContainsKey(layer);

    /// <summary>Fits one layer on reference activations [Nref, ...]; keeps min(D, Nref) components.</summary>
    public void Fit(string layer, Tensor reference)
    {
        using var scope = NewDisposeScope();
        var x = reference.detach().to(ScalarType.Float64).cpu().flatten(1);
        if (!Projects(x.shape[1])) return;
        if (x.shape[0] < 2) throw new LayerLensException($"PCA for layer '{layer}' needs at least 2 reference images", ErrorKind.BadInput);
        var mean = x.mean(new long[] { 0 });
        var xc = x.sub(mean);
        var (u, _, vh) = linalg.svd(xc, fullMatrices: false);
        // svd_flip (u-based): the largest-magnitude entry of each column of U is made positive.
        var rows = u.abs().argmax(0);
        var signs = u.gather(0, rows.unsqueeze(0)).squeeze(0).sign();
        signs = where(signs.eq(0), ones_like(signs), signs);
        long k = Math.Min(Components, vh.shape[0]);
        var comps = vh.mul(signs.unsqueeze(1)).narrow(0, 0, k);
        _fits[layer] = (mean.to(ScalarType.Float32).contiguous().DetachFromDisposeScope(),
                        comps.to(ScalarType.Float32).contiguous().DetachFromDisposeScope());
    }

    public override Tensor Reduce(string layer, Tensor activation)
    {
        using var scope = NewDisposeScope();
        var x = activation.detach().to(ScalarType.Float32).cpu().flatten(1);
        if (!_fits.TryGetValue(layer, out var fit))
        {
            if (!Projects(x.shape[1])) return x.contiguous().MoveToOuterDisposeScope();
            throw new LayerLensException($"PCA for layer '{layer}' was not fitted; give a reference image set", ErrorKind.Internal);
        }
        if (fit.Mean.shape[0] != x.shape[1])
            throw new LayerLensException($"layer '{layer}' has {x.shape[1]} features but its PCA was fitted on {fit.Mean.shape[0]}", ErrorKind.BadInput);
        return x.sub(fit.Mean).matmul(fit.Components.t()).contiguous().MoveToOuterDisposeScope();
    }
}
