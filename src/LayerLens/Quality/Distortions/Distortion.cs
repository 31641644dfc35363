using LayerLens.Images;
using LayerLens.Native;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Quality.Distortions;

/// <summary>The synthetic distortions of the built-in benchmark, each at five increasing levels.</summary>
public enum DistortionType
{
    GaussianBlur, WhiteNoise, Jpeg, Contrast, Brightness, Saturation, Pixelation, Quantisation, MotionBlur, SaltAndPepper,
}

/// <summary>
/// Applies one distortion at level 1 (mild) to 5 (strong) to an RGB image tensor [3, H, W] with values in 0..1.
/// Random distortions draw from a generator seeded by (seed, type, level), so a set is reproducible.
/// </summary>
public static class Distortion
{
    public const int Levels = 5;

    /// <summary>The parameter of each level, in the units named by <see cref="ParameterName"/>.</summary>
    public static double Parameter(DistortionType type, int level) => Table(type)[CheckLevel(level) - 1];

    public static string ParameterName(DistortionType type) => type switch
    {
        DistortionType.GaussianBlur => "sigma_px",
        DistortionType.WhiteNoise => "noise_sd",
        DistortionType.Jpeg => "jpeg_quality",
        DistortionType.Contrast => "contrast_factor",
        DistortionType.Brightness => "brightness_shift",
        DistortionType.Saturation => "saturation_factor",
        DistortionType.Pixelation => "block_px",
        DistortionType.Quantisation => "levels_per_channel",
        DistortionType.MotionBlur => "length_px",
        _ => "fraction_of_pixels",
    };

    /// <summary>Short name used in file names and tables.</summary>
    public static string Name(DistortionType type) => type switch
    {
        DistortionType.GaussianBlur => "blur",
        DistortionType.WhiteNoise => "noise",
        DistortionType.Jpeg => "jpeg",
        DistortionType.Contrast => "contrast",
        DistortionType.Brightness => "brightness",
        DistortionType.Saturation => "saturation",
        DistortionType.Pixelation => "pixelate",
        DistortionType.Quantisation => "quantise",
        DistortionType.MotionBlur => "motion",
        _ => "saltpepper",
    };

    static double[] Table(DistortionType type) => type switch
    {
        DistortionType.GaussianBlur => new[] { 0.5, 1, 2, 3, 5 },
        DistortionType.WhiteNoise => new[] { 0.02, 0.04, 0.08, 0.12, 0.2 },
        DistortionType.Jpeg => new[] { 60.0, 35, 20, 10, 4 },
        DistortionType.Contrast => new[] { 0.8, 0.6, 0.45, 0.3, 0.15 },
        DistortionType.Brightness => new[] { 0.08, 0.16, 0.25, 0.35, 0.5 },
        DistortionType.Saturation => new[] { 0.8, 0.6, 0.4, 0.2, 0.0 },
        DistortionType.Pixelation => new[] { 2.0, 3, 4, 6, 8 },
        DistortionType.Quantisation => new[] { 24.0, 12, 7, 4, 2 },
        DistortionType.MotionBlur => new[] { 3.0, 5, 9, 13, 19 },
        _ => new[] { 0.01, 0.03, 0.06, 0.1, 0.16 },
    };

    static int CheckLevel(int level) => level is >= 1 and <= Levels ? level
        : throw new LayerLensException($"distortion level must be 1–{Levels}, got {level}", ErrorKind.Usage);

    /// <summary>The distorted image, [3, H, W] float32 in 0..1.</summary>
    /// <remarks><paramref name="imageIndex"/> gives each image of a set its own noise pattern.</remarks>
    public static Tensor Apply(Tensor image, DistortionType type, int level, int seed = 0, int imageIndex = 0)
    {
        TorchRuntime.EnsureLoaded();
        if (image.dim() != 3 || image.shape[0] != 3)
            throw new LayerLensException($"distortions need an RGB image [3,H,W], got [{string.Join(",", image.shape)}]", ErrorKind.BadInput);
        double p = Parameter(type, level);
        using var scope = NewDisposeScope();
        var x = image.to_type(ScalarType.Float32);
        var gen = new Generator(StreamSeed(seed, (int)type, level, imageIndex));
        Tensor y = type switch
        {
            DistortionType.GaussianBlur => Blur(x, GaussianKernel(p), GaussianKernel(p)),
            DistortionType.WhiteNoise => x + randn(x.shape, generator: gen) * p,
            DistortionType.Jpeg => JpegRoundTrip(x, (int)p),
            DistortionType.Contrast => (x - Luma(x).mean()) * p + Luma(x).mean(),
            DistortionType.Brightness => x + p,
            DistortionType.Saturation => (x - Luma(x)) * p + Luma(x),
            DistortionType.Pixelation => Pixelate(x, (int)p),
            DistortionType.Quantisation => (x * (p - 1)).round() / (p - 1),
            DistortionType.MotionBlur => Blur(x, null, ones(new long[] { (long)p }) / p),
            _ => SaltAndPepper(x, p, gen),
        };
        return y.clamp(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>SplitMix64 over the four ids: stable across processes (unlike HashCode, which is salted per run).</summary>
    static ulong StreamSeed(int seed, int type, int level, int image)
    {
        ulong z = 0x9E3779B97F4A7C15UL;
        foreach (var v in new[] { seed, type, level, image })
        {
            z += (ulong)(uint)v + 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
        }
        return z >> 1;
    }

    static Tensor Luma(Tensor x) =>
        x[0].unsqueeze(0) * Metrics.Luma.R + x[1].unsqueeze(0) * Metrics.Luma.G + x[2].unsqueeze(0) * Metrics.Luma.B;

    static Tensor GaussianKernel(double sigma)
    {
        int r = (int)Math.Ceiling(3 * sigma);
        var w = Enumerable.Range(-r, 2 * r + 1).Select(i => Math.Exp(-0.5 * i * i / (sigma * sigma))).ToArray();
        double s = w.Sum();
        return tensor(w.Select(v => (float)(v / s)).ToArray());
    }

    /// <summary>Separable filtering with reflected borders (vertical kernel optional).</summary>
    static Tensor Blur(Tensor x, Tensor? vertical, Tensor horizontal)
    {
        long reach = Math.Max(vertical?.shape[0] ?? 0, horizontal.shape[0]) / 2;
        if (x.shape[1] <= reach || x.shape[2] <= reach)
            throw new LayerLensException($"image of {x.shape[1]}×{x.shape[2]} is too small for a blur reaching {reach} pixels", ErrorKind.BadInput);
        var t = x.unsqueeze(1); // [3,1,H,W]: channels filtered independently
        if (vertical is not null)
        {
            long rv = vertical.shape[0] / 2;
            t = F.conv2d(F.pad(t, new[] { 0L, 0, rv, rv }, TorchSharp.PaddingModes.Reflect), vertical.reshape(1, 1, -1, 1));
        }
        long rh = horizontal.shape[0] / 2;
        t = F.conv2d(F.pad(t, new[] { rh, rh, 0L, 0 }, TorchSharp.PaddingModes.Reflect), horizontal.reshape(1, 1, 1, -1));
        return t.squeeze(1);
    }

    static Tensor Pixelate(Tensor x, int block)
    {
        long h = x.shape[1], w = x.shape[2];
        var pooled = F.avg_pool2d(x.unsqueeze(0), new long[] { block, block }, ceil_mode: true, count_include_pad: false);
        var up = pooled.repeat_interleave(block, 2).repeat_interleave(block, 3);
        return up[0, TensorIndex.Colon, TensorIndex.Slice(0, h), TensorIndex.Slice(0, w)];
    }

    static Tensor SaltAndPepper(Tensor x, double fraction, Generator gen)
    {
        var u = rand(new long[] { 1, x.shape[1], x.shape[2] }, generator: gen);
        var salt = (u < fraction / 2).expand_as(x);
        var pepper = (u >= fraction / 2).logical_and(u < fraction).expand_as(x);
        return x.masked_fill(salt, 1).masked_fill(pepper, 0);
    }

    static Tensor JpegRoundTrip(Tensor x, int quality)
    {
        var rgb = RgbImage.FromChwTensor(x);
        var bytes = ImageEncoder.Encode(rgb, ImageFormat.Jpeg, quality);
        return ImageDecoder.Decode(bytes, "jpeg round trip").ToChwTensor();
    }
}
