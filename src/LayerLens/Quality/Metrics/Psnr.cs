using static TorchSharp.torch;

namespace LayerLens.Quality.Metrics;

/// <summary>Peak signal-to-noise ratio, 10·log10(R² / MSE) with the MSE over all channels and pixels
/// (scikit-image's <c>peak_signal_noise_ratio</c>). Identical images give +∞.</summary>
public static class Psnr
{
    /// <summary>PSNR per image of [N,C,H,W] (or [C,H,W]) batches, as float64 [N].</summary>
    public static Tensor Compute(Tensor reference, Tensor distorted, double dataRange = 255)
    {
        if (!(dataRange > 0))
            throw new LayerLensException($"PSNR data range must be positive, got {dataRange}", ErrorKind.Usage);
        using var scope = NewDisposeScope();
        var (r, d) = MetricInputs.Pair(reference, distorted, ScalarType.Float64, "PSNR");
        var mse = (r - d).square().flatten(1).mean(new long[] { 1 });
        var psnr = (dataRange * dataRange / mse).log10() * 10;
        return psnr.MoveToOuterDisposeScope();
    }

    /// <summary>PSNR of one pair.</summary>
    public static double Value(Tensor reference, Tensor distorted, double dataRange = 255)
    {
        using var v = Compute(reference, distorted, dataRange);
        return Single(v, "PSNR");
    }

    internal static double Single(Tensor perImage, string metric)
    {
        if (perImage.shape[0] != 1)
            throw new LayerLensException($"{metric}: expected one image pair, got {perImage.shape[0]}", ErrorKind.Usage);
        return perImage[0].item<double>();
    }
}
