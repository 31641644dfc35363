using static TorchSharp.torch;

namespace LayerLens.Quality.Metrics;

/// <summary>
/// Structural similarity (Wang et al., 2004) with a Gaussian window, on batches of [N,C,H,W] tensors.
/// Local statistics come from one separable Gaussian filter over the five maps (x, y, x², y², xy) of every
/// image and channel at once. The convolution is "valid": it equals scikit-image's reflect-padded filter
/// followed by its border crop of (window − 1)/2, so means agree with <c>structural_similarity</c>.
/// Colour images give the mean over channels; <see cref="SsimOptions.Gray"/> compares luma instead.
/// </summary>
public static class Ssim
{
    /// <summary>Mean SSIM per image as float64 [N].</summary>
    public static Tensor Compute(Tensor reference, Tensor distorted, SsimOptions? options = null)
    {
        var o = options ?? SsimOptions.Default;
        o.Validate();
        using var scope = NewDisposeScope();
        var (x, y, n, c) = Planes(reference, distorted, o, "SSIM");
        var (ssim, _) = Terms(x, y, o);
        return ssim.reshape(n, c).mean(new long[] { 1 }).to_type(ScalarType.Float64).MoveToOuterDisposeScope();
    }

    /// <summary>SSIM of one pair.</summary>
    public static double Value(Tensor reference, Tensor distorted, SsimOptions? options = null)
    {
        using var v = Compute(reference, distorted, options);
        return Psnr.Single(v, "SSIM");
    }

    /// <summary>Reference and distorted images as [N·C,1,H,W] planes in the working precision.</summary>
    internal static (Tensor X, Tensor Y, long N, long C) Planes(Tensor reference, Tensor distorted, SsimOptions o, string metric)
    {
        var (r, d) = MetricInputs.Pair(reference, distorted, o.DoublePrecision ? ScalarType.Float64 : ScalarType.Float32, metric);
        if (o.Gray) { r = Luma.FromRgb(r); d = Luma.FromRgb(d); }
        long n = d.shape[0], c = d.shape[1], h = d.shape[2], w = d.shape[3];
        if (h < o.WindowSize || w < o.WindowSize)
            throw new LayerLensException($"{metric}: images of {h}×{w} are smaller than the {o.WindowSize}×{o.WindowSize} window", ErrorKind.BadInput);
        return (r.reshape(n * c, 1, h, w), d.reshape(n * c, 1, h, w), n, c);
    }

    /// <summary>
    /// Mean SSIM and mean contrast-structure term (the part MS-SSIM uses at fine scales) of each plane of
    /// [M,1,H,W] inputs, over the window-cropped interior.
    /// </summary>
    internal static (Tensor Ssim, Tensor ContrastStructure) Terms(Tensor x, Tensor y, SsimOptions o)
    {
        long m = x.shape[0];
        var g = GaussianWeights(o.Sigma, o.WindowSize);
        var maps = cat(new[] { x, y, x * x, y * y, x * y }, 0);
        var blurred = ValidFilter(ValidFilter(maps, g, 2), g, 3);
        var parts = blurred.split(m, 0);
        Tensor ux = parts[0], uy = parts[1];
        var uxux = ux * ux;
        var uyuy = uy * uy;
        var uxuy = ux * uy;
        var vx = parts[2] - uxux;
        var vy = parts[3] - uyuy;
        var vxy = parts[4] - uxuy;
        double c1 = Math.Pow(o.K1 * o.DataRange, 2), c2 = Math.Pow(o.K2 * o.DataRange, 2);
        var cs = (vxy * 2 + c2) / (vx + vy + c2);
        var luminance = (uxuy * 2 + c1) / (uxux + uyuy + c1);
        var dims = new long[] { 1, 2, 3 };
        return ((luminance * cs).mean(dims), cs.mean(dims));
    }

    /// <summary>
    /// "Valid" 1-D filtering along <paramref name="dim"/> as a weighted sum of shifted views. libtorch's conv2d
    /// has no fast path for single-channel planes and runs several times slower than scipy here; the shifted
    /// sums are plain vectorised multiply-adds (symmetric taps share one multiply).
    /// </summary>
    static Tensor ValidFilter(Tensor t, double[] w, int dim)
    {
        int k = w.Length;
        long n = t.shape[dim] - k + 1;
        Tensor acc = t.narrow(dim, k / 2, n) * w[k / 2];
        for (int i = 0; i < k / 2; i++)
        {
            using var pair = t.narrow(dim, i, n) + t.narrow(dim, k - 1 - i, n);
            acc.add_(pair, w[i]);
        }
        return acc;
    }

    /// <summary>Normalised 1-D Gaussian, as scipy.ndimage builds it (weights sum to one over the window).</summary>
    internal static double[] GaussianWeights(double sigma, int size)
    {
        var w = new double[size];
        int r = size / 2;
        double sum = 0;
        for (int i = 0; i < size; i++) { w[i] = Math.Exp(-0.5 * (i - r) * (i - r) / (sigma * sigma)); sum += w[i]; }
        for (int i = 0; i < size; i++) w[i] /= sum;
        return w;
    }
}
