using LayerLens.Quality.Metrics;
using static TorchSharp.torch;

namespace LayerLens.Tests.Quality;

public class ClassicMetricsTests
{
    [Fact]
    public void Ssim_matches_scikit_image_on_photographs_per_channel_and_on_luma()
    {
        int checkedCases = 0;
        foreach (var c in QualityFixtures.Cases())
        {
            using var r = QualityFixtures.Image(c.GetProperty("ref").GetString()!);
            using var d = QualityFixtures.Image(c.GetProperty("dist").GetString()!);
            var name = c.GetProperty("dist").GetString();
            Assert.True(Math.Abs(Ssim.Value(r, d) - c.GetProperty("ssim_rgb").GetDouble()) < 1e-4, $"{name} rgb");
            Assert.True(Math.Abs(Ssim.Value(r, d, new SsimOptions { Gray = true }) - c.GetProperty("ssim_gray").GetDouble()) < 1e-4, $"{name} gray");
            checkedCases++;
        }
        Assert.True(checkedCases >= 9);
    }

    [Fact]
    public void Ssim_in_float32_stays_within_1e4_of_scikit_image()
    {
        foreach (var c in QualityFixtures.Cases())
        {
            using var r = QualityFixtures.Image(c.GetProperty("ref").GetString()!);
            using var d = QualityFixtures.Image(c.GetProperty("dist").GetString()!);
            var v = Ssim.Value(r, d, new SsimOptions { DoublePrecision = false });
            Assert.InRange(v - c.GetProperty("ssim_rgb").GetDouble(), -1e-4, 1e-4);
        }
    }

    [Fact]
    public void Psnr_matches_scikit_image()
    {
        foreach (var c in QualityFixtures.Cases())
        {
            using var r = QualityFixtures.Image(c.GetProperty("ref").GetString()!);
            using var d = QualityFixtures.Image(c.GetProperty("dist").GetString()!);
            Assert.Equal(c.GetProperty("psnr").GetDouble(), Psnr.Value(r, d), 9);
        }
    }

    [Fact]
    public void MsSsim_matches_numpy_reference_in_fixture_script()
    {
        int n = 0;
        foreach (var c in QualityFixtures.Cases().Where(c => c.TryGetProperty("msssim_rgb", out _)))
        {
            using var r = QualityFixtures.Image(c.GetProperty("ref").GetString()!);
            using var d = QualityFixtures.Image(c.GetProperty("dist").GetString()!);
            Assert.InRange(MsSsim.Value(r, d) - c.GetProperty("msssim_rgb").GetDouble(), -1e-6, 1e-6);
            Assert.InRange(MsSsim.Value(r, d, new SsimOptions { Gray = true }) - c.GetProperty("msssim_gray").GetDouble(), -1e-6, 1e-6);
            n++;
        }
        Assert.Equal(3, n);
    }

    [Fact]
    public void Batched_ssim_equals_pairwise_values_and_broadcasts_one_reference()
    {
        var cases = QualityFixtures.Cases().Where(c => c.GetProperty("ref").GetString() == "astronaut96.npy").ToList();
        using var r = QualityFixtures.Image("astronaut96.npy");
        var dists = cases.Select(c => QualityFixtures.Image(c.GetProperty("dist").GetString()!)).ToList();
        using var batch = stack(dists);
        using var values = Ssim.Compute(r, batch);
        for (int i = 0; i < cases.Count; i++)
            Assert.InRange(values[i].item<double>() - cases[i].GetProperty("ssim_rgb").GetDouble(), -1e-4, 1e-4);
        using var ms = MsSsim.Compute(r.unsqueeze(0), r.unsqueeze(0), SsimOptions.Default with { WindowSize = 3, Sigma = 0.5 });
        Assert.Equal(1.0, ms[0].item<double>(), 12); // identical images: every term is exactly 1
        foreach (var t in dists) t.Dispose();
    }

    [Fact]
    public void MsSsim_is_the_weighted_product_of_per_scale_terms()
    {
        // Hand-built check of the formula: with one 11×11 Gaussian-free window (σ huge ≈ box), a constant offset
        // of the distorted image leaves contrast-structure at 1 at every scale, so MS-SSIM = SSIM₅ ^ 0.1333.
        using var baseImg = arange(0, 176 * 176, dtype: ScalarType.Float64).reshape(1, 1, 176, 176).remainder(251);
        using var shifted = baseImg + 10;
        var o = new SsimOptions { Gray = false };
        var ms = MsSsim.Value(baseImg, shifted, o);
        using var x5 = nn.functional.avg_pool2d(nn.functional.avg_pool2d(nn.functional.avg_pool2d(nn.functional.avg_pool2d(baseImg, 2), 2), 2), 2);
        using var y5 = x5 + 10;
        var ssim5 = Ssim.Value(x5, y5, o);
        Assert.Equal(Math.Pow(ssim5, MsSsim.Weights[4]), ms, 10);
        Assert.True(ssim5 < 1.0);
    }

    [Fact]
    public void Metrics_reject_mismatched_shapes_small_images_and_nan_with_one_line_errors()
    {
        using var a = zeros(3, 32, 32);
        using var b = zeros(3, 32, 31);
        Assert.Contains("differ in shape", Assert.Throws<LayerLensException>(() => Ssim.Value(a, b)).Message);
        using var tiny = zeros(3, 8, 8);
        Assert.Contains("smaller than", Assert.Throws<LayerLensException>(() => Ssim.Value(tiny, tiny)).Message);
        Assert.Contains("too small", Assert.Throws<LayerLensException>(() => MsSsim.Value(a, a)).Message);
        using var nan = full(3, 32, 32, double.NaN);
        Assert.Contains("NaN", Assert.Throws<LayerLensException>(() => Psnr.Value(a, nan)).Message);
        Assert.True(double.IsPositiveInfinity(Psnr.Value(a, a)));
    }
}
