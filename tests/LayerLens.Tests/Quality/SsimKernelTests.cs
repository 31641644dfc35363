using LayerLens.Images;
using LayerLens.Quality.Distortions;
using LayerLens.Quality.Metrics;
using static TorchSharp.torch;

namespace LayerLens.Tests.Quality;

/// <summary>
/// The fused SSIM kernel (reached through <see cref="Ssim"/> and <see cref="MsSsim"/>) against a direct
/// double loop written here: every output pixel's 2-D window sums, no separable filter, no SIMD, no ring buffer.
/// Sizes are chosen so rows are not whole vectors, span several column strips, or leave a single output pixel.
/// </summary>
public class SsimKernelTests
{
    [Theory]
    [InlineData(23, 37, 11, 1.5, 4)]
    [InlineData(23, 37, 7, 1.0, 3)]
    [InlineData(11, 11, 11, 1.5, 2)]   // one output pixel per plane
    [InlineData(41, 150, 7, 1.0, 2)]   // output rows of 144 columns: several strips and a partial vector
    [InlineData(30, 19, 3, 0.5, 5)]
    public void Ssim_per_plane_matches_a_direct_double_loop(int h, int w, int window, double sigma, int planes)
    {
        var (x, y) = RandomPlanes(planes, h, w, seed: h * 1000 + w * 10 + window);
        var o = new SsimOptions { WindowSize = window, Sigma = sigma };
        using var xt = tensor(x, new long[] { planes, 1, h, w });
        using var yt = tensor(y, new long[] { planes, 1, h, w });
        using var values = Ssim.Compute(xt, yt, o);
        Assert.Equal(new long[] { planes }, values.shape);
        for (int p = 0; p < planes; p++)
        {
            var (ssim, _) = NaiveTerms(Plane(x, p, h, w), Plane(y, p, h, w), h, w, o);
            Assert.InRange(values[p].item<double>() - ssim, -1e-12, 1e-12);
        }
    }

    [Fact]
    public void Colour_ssim_is_the_mean_of_the_naive_per_channel_values()
    {
        const int h = 29, w = 43;
        var (x, y) = RandomPlanes(6, h, w, seed: 7);
        var o = SsimOptions.Default;
        using var xt = tensor(x, new long[] { 2, 3, h, w });
        using var yt = tensor(y, new long[] { 2, 3, h, w });
        using var values = Ssim.Compute(xt, yt, o);
        for (int n = 0; n < 2; n++)
        {
            double mean = Enumerable.Range(3 * n, 3).Average(p => NaiveTerms(Plane(x, p, h, w), Plane(y, p, h, w), h, w, o).Ssim);
            Assert.InRange(values[n].item<double>() - mean, -1e-12, 1e-12);
        }
    }

    [Fact]
    public void MsSsim_matches_a_direct_loop_over_five_scales_which_checks_the_contrast_structure_term()
    {
        // Window 3 needs sides of 48 for five scales; 53×61 makes every pooling drop an odd row or column.
        const int h = 53, w = 61, planes = 3;
        var (x, y) = RandomPlanes(planes, h, w, seed: 11);
        var o = new SsimOptions { WindowSize = 3, Sigma = 0.5 };
        using var xt = tensor(x, new long[] { planes, 1, h, w });
        using var yt = tensor(y, new long[] { planes, 1, h, w });
        using var values = MsSsim.Compute(xt, yt, o);
        for (int p = 0; p < planes; p++)
        {
            double[] a = Plane(x, p, h, w), b = Plane(y, p, h, w);
            int ph = h, pw = w;
            double product = 1;
            for (int s = 0; s < MsSsim.Weights.Count; s++)
            {
                var (ssim, cs) = NaiveTerms(a, b, ph, pw, o);
                product *= Math.Pow(Math.Max(s == MsSsim.Weights.Count - 1 ? ssim : cs, 0), MsSsim.Weights[s]);
                (a, _, _) = Pool(a, ph, pw);
                (b, ph, pw) = Pool(b, ph, pw);
            }
            Assert.InRange(values[p].item<double>() - product, -1e-12, 1e-12);
        }
    }

    [Fact]
    public void Float32_stays_within_1e5_of_float64_on_a_photograph()
    {
        var photo = ImageDecoder.Decode(Path.Combine(TestPaths.Fixtures, "Photos", "chelsea.png"));
        using var unit = photo.ToChwTensor();
        using var noisy = Distortion.Apply(unit, DistortionType.WhiteNoise, 3, seed: 0);
        using var reference = unit * 255;
        using var distorted = noisy * 255;
        foreach (var gray in new[] { false, true })
        {
            var o64 = new SsimOptions { Gray = gray };
            var o32 = o64 with { DoublePrecision = false };
            double s64 = Ssim.Value(reference, distorted, o64), s32 = Ssim.Value(reference, distorted, o32);
            Assert.InRange(s64, 0.1, 0.95); // a real distortion, not a trivial comparison
            Assert.InRange(s32 - s64, -1e-5, 1e-5);
            double m64 = MsSsim.Value(reference, distorted, o64), m32 = MsSsim.Value(reference, distorted, o32);
            Assert.InRange(m32 - m64, -1e-5, 1e-5);
        }
    }

    [Fact]
    public void Results_do_not_depend_on_the_number_of_threads()
    {
        // One RGB pair (3 planes: on 2 threads each plane is cut into row bands) and a batch of 4 pairs.
        var (x, y) = RandomPlanes(12, 150, 131, seed: 3);
        using var xt = tensor(x, new long[] { 4, 3, 150, 131 });
        using var yt = tensor(y, new long[] { 4, 3, 150, 131 });
        int before = get_num_threads();
        try
        {
            var results = new List<double[]>();
            foreach (int threads in new[] { 1, 2 })
            {
                set_num_threads(threads);
                foreach (var precise in new[] { true, false })
                {
                    var o = new SsimOptions { DoublePrecision = precise };
                    using var one = Ssim.Compute(xt[0], yt[0], o);
                    using var batch = Ssim.Compute(xt, yt, o);
                    using var ms = MsSsim.Compute(xt, yt, o with { WindowSize = 3, Sigma = 0.5 });
                    results.Add(one.data<double>().Concat(batch.data<double>()).Concat(ms.data<double>()).ToArray());
                }
            }
            Assert.Equal(results[0], results[2]); // float64, 1 vs 2 threads: bit for bit
            Assert.Equal(results[1], results[3]); // float32
        }
        finally
        {
            set_num_threads(before);
        }
    }

    [Fact]
    public void Byte_float_and_double_inputs_of_the_same_values_give_the_same_ssim()
    {
        // The kernel converts while copying; 45×67 leaves tails after whole vectors of every element type.
        var (x, y) = RandomPlanes(3, 45, 67, seed: 5);
        using var x64 = tensor(x, new long[] { 3, 45, 67 });
        using var y64 = tensor(y.Select(v => Math.Round(v)).ToArray(), new long[] { 3, 45, 67 });
        using var x8 = x64.to_type(ScalarType.Byte);
        using var y8 = y64.to_type(ScalarType.Byte);
        using var x32 = x64.to_type(ScalarType.Float32);
        using var y32 = y64.to_type(ScalarType.Float32);
        using var x16 = x64.to_type(ScalarType.Int16); // converted through libtorch
        using var y16 = y64.to_type(ScalarType.Int16);
        foreach (var precise in new[] { true, false })
        {
            var o = new SsimOptions { DoublePrecision = precise };
            double expected = Ssim.Value(x64, y64, o);
            Assert.Equal(expected, Ssim.Value(x8, y8, o));
            Assert.Equal(expected, Ssim.Value(x32, y32, o));
            Assert.Equal(expected, Ssim.Value(x16, y16, o));
            Assert.Equal(expected, Ssim.Value(x8, y64, o));
        }
        Assert.InRange(Ssim.Value(x64, y64), 0.5, 0.99); // 0.905: similar but not equal images
    }

    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 0)]
    [InlineData(true, 45 * 67 - 1)] // the last value, copied by the scalar tail
    [InlineData(false, 45 * 67 - 1)]
    public void Nan_infinity_and_float32_overflow_are_rejected(bool precise, int at)
    {
        var o = new SsimOptions { DoublePrecision = precise };
        var values = Enumerable.Range(0, 3 * 45 * 67).Select(i => (double)(i * 37 % 251)).ToArray();
        using var clean = tensor(values, new long[] { 3, 45, 67 });
        Tensor With(int index, double v)
        {
            var copy = (double[])values.Clone();
            copy[index] = v;
            return tensor(copy, new long[] { 3, 45, 67 });
        }
        foreach (var bad in new[] { double.NaN, double.PositiveInfinity })
        {
            using var dirty = With(2 * 45 * 67 + at, bad);
            Assert.Contains("NaN or infinite", Assert.Throws<LayerLensException>(() => Ssim.Value(clean, dirty, o)).Message);
            Assert.Contains("NaN or infinite", Assert.Throws<LayerLensException>(() => Ssim.Value(dirty, clean, o)).Message);
        }
        using var huge = With(at, 1e39); // finite in float64, infinite in float32
        if (precise) Assert.InRange(Ssim.Value(clean, huge, o), -1, 1);
        else Assert.Contains("NaN or infinite", Assert.Throws<LayerLensException>(() => Ssim.Value(clean, huge, o)).Message);
    }

    static (double[] X, double[] Y) RandomPlanes(int planes, int h, int w, int seed)
    {
        var rng = new Random(seed);
        var x = new double[planes * h * w];
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = Math.Round(rng.NextDouble() * 255);
            // Correlated with x so SSIM is far from 0 and from 1.
            y[i] = Math.Clamp(x[i] + (rng.NextDouble() - 0.5) * 120, 0, 255);
        }
        return (x, y);
    }

    static double[] Plane(double[] all, int p, int h, int w) => all.AsSpan(p * h * w, h * w).ToArray();

    /// <summary>Mean SSIM and cs over the valid interior, each window summed directly with 2-D weights.</summary>
    static (double Ssim, double Cs) NaiveTerms(double[] x, double[] y, int h, int w, SsimOptions o)
    {
        int k = o.WindowSize;
        var g = new double[k];
        for (int i = 0; i < k; i++) g[i] = Math.Exp(-0.5 * (i - k / 2) * (i - k / 2) / (o.Sigma * o.Sigma));
        double gs = g.Sum();
        double c1 = Math.Pow(o.K1 * o.DataRange, 2), c2 = Math.Pow(o.K2 * o.DataRange, 2);
        double sumSsim = 0, sumCs = 0;
        for (int r = 0; r + k <= h; r++)
        for (int c = 0; c + k <= w; c++)
        {
            double mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
            for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
            {
                double wt = g[a] * g[b] / (gs * gs), xv = x[(r + a) * w + c + b], yv = y[(r + a) * w + c + b];
                mx += wt * xv; my += wt * yv; mxx += wt * xv * xv; myy += wt * yv * yv; mxy += wt * xv * yv;
            }
            double vx = mxx - mx * mx, vy = myy - my * my, cov = mxy - mx * my;
            double cs = (2 * cov + c2) / (vx + vy + c2);
            sumSsim += (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs;
            sumCs += cs;
        }
        double n = (h - k + 1) * (double)(w - k + 1);
        return (sumSsim / n, sumCs / n);
    }

    /// <summary>2×2 mean pooling that drops an odd last row or column.</summary>
    static (double[] Pooled, int H, int W) Pool(double[] x, int h, int w)
    {
        int ph = h / 2, pw = w / 2;
        var p = new double[ph * pw];
        for (int r = 0; r < ph; r++)
        for (int c = 0; c < pw; c++)
            p[r * pw + c] = (x[2 * r * w + 2 * c] + x[2 * r * w + 2 * c + 1] + x[(2 * r + 1) * w + 2 * c] + x[(2 * r + 1) * w + 2 * c + 1]) / 4;
        return (p, ph, pw);
    }
}
