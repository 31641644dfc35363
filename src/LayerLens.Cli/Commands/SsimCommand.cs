using System.CommandLine;
using System.Globalization;
using LayerLens.Images;
using LayerLens.Quality.Metrics;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens ssim A B`: SSIM (or MS-SSIM) of two images.</summary>
public static class SsimCommand
{
    public static Command Build()
    {
        var a = new Argument<string>("reference") { Description = "Reference image." };
        var b = new Argument<string>("distorted") { Description = "Distorted image (same size)." };
        var ms = new Option<bool>("--ms") { Description = "Multi-scale SSIM (5 scales; images at least 176 px per side)." };
        var gray = new Option<bool>("--gray") { Description = "Compare BT.601 luma instead of averaging R, G and B." };
        var psnr = new Option<bool>("--psnr") { Description = "Also print PSNR in dB." };
        var cmd = new Command("ssim",
            "Print the structural similarity of two images (Gaussian window 11x11, sigma 1.5, data range 255, " +
            "as scikit-image's structural_similarity with gaussian_weights=True).\n\n" +
            "Examples:\n" +
            "  layerlens ssim ref.png dist.png\n" +
            "  layerlens ssim ref.png dist.jpg --ms --gray\n" +
            "  layerlens ssim ref.png dist.png --psnr")
        { a, b, ms, gray, psnr };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var ra = ImageDecoder.Decode(parse.GetValue(a)!);
            var rb = ImageDecoder.Decode(parse.GetValue(b)!);
            if (ra.Width != rb.Width || ra.Height != rb.Height)
                throw new LayerLensException($"{parse.GetValue(b)}: {rb.Width}×{rb.Height}, but {parse.GetValue(a)} is {ra.Width}×{ra.Height}", ErrorKind.BadInput);
            using var ta = ra.ToChwTensor().mul_(255);
            using var tb = rb.ToChwTensor().mul_(255);
            var options = new SsimOptions { Gray = parse.GetValue(gray) };
            double v = parse.GetValue(ms) ? MsSsim.Value(ta, tb, options) : Ssim.Value(ta, tb, options);
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine(v.ToString("0.######", CultureInfo.InvariantCulture));
            if (parse.GetValue(psnr)) output.WriteLine($"psnr {Psnr.Value(ta, tb).ToString("0.####", CultureInfo.InvariantCulture)} dB");
            return 0;
        }));
        return cmd;
    }
}
