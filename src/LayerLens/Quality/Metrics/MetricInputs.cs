using LayerLens.Native;
using static TorchSharp.torch;

namespace LayerLens.Quality.Metrics;

/// <summary>Shape checks and layout shared by the full-reference metrics.</summary>
internal static class MetricInputs
{
    /// <summary>
    /// Brings a reference and a distorted batch to [N,C,H,W] in <paramref name="dtype"/>. A single reference
    /// ([C,H,W] or N = 1) is broadcast over a batch of distorted images, so one reference is prepared once.
    /// </summary>
    public static (Tensor Reference, Tensor Distorted) Pair(Tensor reference, Tensor distorted, ScalarType dtype, string metric)
    {
        var (r, d) = Batches(reference, distorted, metric);
        // Integer images stay finite in any float type; the check costs two full passes, so only floating inputs get it.
        bool checkR = r.is_floating_point(), checkD = d.is_floating_point();
        r = r.to_type(dtype);
        d = d.to_type(dtype);
        if ((checkR && !r.isfinite().all().item<bool>()) || (checkD && !d.isfinite().all().item<bool>()))
            throw new LayerLensException($"{metric}: images contain NaN or infinite values", ErrorKind.BadInput);
        if (r.shape[0] != d.shape[0]) r = r.expand(d.shape);
        return (r, d);
    }

    /// <summary>
    /// The reference and distorted images as [N,C,H,W] views in their own dtype, after the shape checks of
    /// <see cref="Pair"/>; the reference has N = 1 or the distorted batch's N.
    /// </summary>
    public static (Tensor Reference, Tensor Distorted) Batches(Tensor reference, Tensor distorted, string metric)
    {
        TorchRuntime.EnsureLoaded();
        var r = AsBatch(reference, metric, "reference");
        var d = AsBatch(distorted, metric, "distorted");
        if (!r.shape.Skip(1).SequenceEqual(d.shape.Skip(1)) || (r.shape[0] != d.shape[0] && r.shape[0] != 1))
            throw new LayerLensException(
                $"{metric}: reference [{string.Join(",", r.shape)}] and distorted [{string.Join(",", d.shape)}] images differ in shape",
                ErrorKind.BadInput);
        return (r, d);
    }

    static Tensor AsBatch(Tensor t, string metric, string which) => t.dim() switch
    {
        3 => t.unsqueeze(0),
        4 => t.alias(),
        _ => throw new LayerLensException(
            $"{metric}: the {which} image must be [C,H,W] or [N,C,H,W], got [{string.Join(",", t.shape)}]", ErrorKind.BadInput),
    };
}
