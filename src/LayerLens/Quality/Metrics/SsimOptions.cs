namespace LayerLens.Quality.Metrics;

/// <summary>
/// Settings of SSIM and MS-SSIM. The defaults are Wang et al. (2004)'s and match scikit-image's
/// <c>structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)</c>.
/// </summary>
public sealed record SsimOptions
{
    /// <summary>Span of pixel values (255 for 8-bit images, 1 for images scaled to 0–1).</summary>
    public double DataRange { get; init; } = 255;
    public double Sigma { get; init; } = 1.5;
    /// <summary>Window side; skimage derives 11 from σ 1.5 (radius = int(3.5σ + 0.5)).</summary>
    public int WindowSize { get; init; } = 11;
    public double K1 { get; init; } = 0.01;
    public double K2 { get; init; } = 0.03;
    /// <summary>Compare BT.601 luma (0.299 R + 0.587 G + 0.114 B) instead of averaging per-channel SSIM.</summary>
    public bool Gray { get; init; }
    /// <summary>Compute in float64: variances are differences of large squares (up to 255²), which float32 rounds
    /// coarsely; float32 is faster and usually within 1e-5.</summary>
    public bool DoublePrecision { get; init; } = true;

    public static SsimOptions Default { get; } = new();

    internal void Validate()
    {
        if (!(DataRange > 0) || double.IsInfinity(DataRange))
            throw new LayerLensException($"SSIM data range must be a positive number, got {DataRange}", ErrorKind.Usage);
        if (!(Sigma > 0))
            throw new LayerLensException($"SSIM sigma must be positive, got {Sigma}", ErrorKind.Usage);
        if (WindowSize < 1 || WindowSize % 2 == 0)
            throw new LayerLensException($"SSIM window size must be odd and positive, got {WindowSize}", ErrorKind.Usage);
    }
}
