using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace LayerLens.Quality.Metrics;

/// <summary>
/// Structural similarity (Wang et al., 2004) with a Gaussian window, on batches of [N,C,H,W] tensors.
/// Every image and channel is one plane; local means of x, y, x² + y² and xy come from a separable Gaussian
/// filter fused with the SSIM formula in <see cref="SsimKernel"/> (managed SIMD, planes and row bands in
/// parallel, float64 or float32 arithmetic with means accumulated in float64). The filter is "valid": it
/// equals scikit-image's reflect-padded filter followed by its border crop of (window − 1)/2, so means agree
/// with <c>structural_similarity</c>.
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
        Tensor x, y;
        long n, c;
        if (o.Gray)
        {
            (x, y, n, c) = Planes(reference, distorted, o, "SSIM");
        }
        else
        {
            // Colour planes go to the kernel in their own dtype: it converts (and checks for NaN) while copying,
            // which spares two full-size libtorch passes per image.
            (x, y) = MetricInputs.Batches(reference, distorted, "SSIM");
            (n, c) = (y.shape[0], y.shape[1]);
            CheckWindow(y.shape[2], y.shape[3], o, "SSIM");
        }
        var (ssim, _) = Terms(x, y, o, "SSIM");
        return ssim.reshape(n, c).mean(new long[] { 1 }).MoveToOuterDisposeScope();
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
        CheckWindow(h, w, o, metric);
        return (r.reshape(n * c, 1, h, w), d.reshape(n * c, 1, h, w), n, c);
    }

    static void CheckWindow(long h, long w, SsimOptions o, string metric)
    {
        if (h < o.WindowSize || w < o.WindowSize)
            throw new LayerLensException($"{metric}: images of {h}×{w} are smaller than the {o.WindowSize}×{o.WindowSize} window", ErrorKind.BadInput);
    }

    /// <summary>
    /// Mean SSIM and mean contrast-structure term (the part MS-SSIM uses at fine scales) of every plane of
    /// [N,C,H,W] inputs, over the window-cropped interior, as float64 [N·C] (plane n·C + c). The reference may
    /// have N = 1 (broadcast). Planes are copied (converted to the working precision, checked for NaN and
    /// infinity) to managed arrays and handed to <see cref="SsimKernel"/>, which uses at most as many threads as
    /// libtorch's intra-op pool.
    /// </summary>
    internal static (Tensor Ssim, Tensor ContrastStructure) Terms(Tensor x, Tensor y, SsimOptions o, string metric)
    {
        var g = GaussianWeights(o.Sigma, o.WindowSize);
        double c1 = Math.Pow(o.K1 * o.DataRange, 2), c2 = Math.Pow(o.K2 * o.DataRange, 2);
        var (ssim, cs) = o.DoublePrecision
            ? KernelMeans<double>(x, y, g, c1, c2, metric)
            : KernelMeans<float>(x, y, g, c1, c2, metric);
        return (tensor(ssim), tensor(cs));
    }

    /// <summary>Runs the kernel over groups of planes copied into pooled arrays (a group holds up to ~16M values).</summary>
    static (double[] Ssim, double[] Cs) KernelMeans<T>(Tensor x, Tensor y, double[] weights, double c1, double c2, string metric)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long images = y.shape[0], channels = y.shape[1];
        int m = checked((int)(images * channels)), h = (int)y.shape[2], w = (int)y.shape[3];
        int plane = checked(h * w);
        if (plane + SsimKernel.Padding<T>() > Array.MaxLength)
            throw new LayerLensException($"{metric}: images of {h}×{w} are too large", ErrorKind.BadInput);
        bool broadcast = x.shape[0] != images;
        int group = (int)Math.Clamp((1L << 24) / plane, 1, Math.Max(1, m));
        var ssim = new double[m];
        var cs = new double[m];
        int threads = get_num_threads();
        int capacity = Math.Min(group, m) * plane + SsimKernel.Padding<T>();
        var xa = ArrayPool<T>.Shared.Rent(capacity);
        var ya = ArrayPool<T>.Shared.Rent(capacity);
        try
        {
            for (int first = 0; first < m; first += group)
            {
                int count = Math.Min(group, m - first);
                for (int q = 0; q < count; q++)
                {
                    long p = first + q;
                    CopyPlane(x, broadcast ? 0 : p / channels, p % channels, xa.AsSpan(q * plane, plane), metric);
                    CopyPlane(y, p / channels, p % channels, ya.AsSpan(q * plane, plane), metric);
                }
                Array.Clear(xa, count * plane, SsimKernel.Padding<T>());
                Array.Clear(ya, count * plane, SsimKernel.Padding<T>());
                var (s, c) = SsimKernel.Means(xa, ya, count, h, w, weights, c1, c2, threads);
                s.CopyTo(ssim, first);
                c.CopyTo(cs, first);
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(xa);
            ArrayPool<T>.Shared.Return(ya);
        }
        return (ssim, cs);
    }

    /// <summary>Plane [n, c] of <paramref name="t"/> into <paramref name="to"/>, converted to <typeparamref name="T"/>.</summary>
    static void CopyPlane<T>(Tensor t, long n, long c, Span<T> to, string metric) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var view = t[n, c];
        using var dense = view.is_contiguous() && view.device_type == TorchSharp.DeviceType.CPU ? view.alias() : view.cpu().contiguous();
        bool finite = dense.dtype switch
        {
            ScalarType.Byte => SsimKernel.Load(MemoryMarshal.Cast<byte, byte>(dense.bytes), to),
            ScalarType.Float32 => SsimKernel.Load(MemoryMarshal.Cast<byte, float>(dense.bytes), to),
            ScalarType.Float64 => SsimKernel.Load(MemoryMarshal.Cast<byte, double>(dense.bytes), to),
            _ => LoadConverted(dense, to),
        };
        if (!finite)
            throw new LayerLensException($"{metric}: images contain NaN or infinite values", ErrorKind.BadInput);
    }

    static bool LoadConverted<T>(Tensor dense, Span<T> to) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var asDouble = dense.to_type(ScalarType.Float64);
        return SsimKernel.Load(MemoryMarshal.Cast<byte, double>(asDouble.bytes), to);
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
