using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Quality.Metrics;

/// <summary>
/// Multi-scale SSIM (Wang, Simoncelli &amp; Bovik, 2003): contrast-structure means at scales 1–4 and the full
/// SSIM at scale 5, each raised to its weight and multiplied. Between scales images are halved by 2×2 mean
/// pooling (an odd last row or column is dropped). Negative terms are clipped at 0 so fractional powers stay
/// real, as common implementations do. Colour images give the mean of per-channel MS-SSIM.
/// </summary>
public static class MsSsim
{
    /// <summary>Wang et al.'s weights, finest scale first.</summary>
    public static IReadOnlyList<double> Weights { get; } = new[] { 0.0448, 0.2856, 0.3001, 0.2363, 0.1333 };

    /// <summary>MS-SSIM per image as float64 [N].</summary>
    public static Tensor Compute(Tensor reference, Tensor distorted, SsimOptions? options = null)
    {
        var o = options ?? SsimOptions.Default;
        o.Validate();
        using var scope = NewDisposeScope();
        var (x, y, n, c) = Ssim.Planes(reference, distorted, o, "MS-SSIM");
        long minSide = o.WindowSize * (1L << (Weights.Count - 1));
        if (x.shape[2] < minSide || x.shape[3] < minSide)
            throw new LayerLensException(
                $"MS-SSIM: images of {x.shape[2]}×{x.shape[3]} are too small for {Weights.Count} scales with an {o.WindowSize}-pixel window (need at least {minSide}×{minSide})",
                ErrorKind.BadInput);
        Tensor? product = null;
        for (int s = 0; s < Weights.Count; s++)
        {
            var (ssim, cs) = Ssim.Terms(x, y, o, "MS-SSIM");
            var term = (s == Weights.Count - 1 ? ssim : cs).clamp_min(0).pow(Weights[s]);
            product = product is null ? term : product * term;
            if (s < Weights.Count - 1)
            {
                x = F.avg_pool2d(x, 2);
                y = F.avg_pool2d(y, 2);
            }
        }
        return product!.reshape(n, c).mean(new long[] { 1 }).to_type(ScalarType.Float64).MoveToOuterDisposeScope();
    }

    /// <summary>MS-SSIM of one pair.</summary>
    public static double Value(Tensor reference, Tensor distorted, SsimOptions? options = null)
    {
        using var v = Compute(reference, distorted, options);
        return Psnr.Single(v, "MS-SSIM");
    }
}
