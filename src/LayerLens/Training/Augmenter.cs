using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Training;

/// <summary>Random resized crop, horizontal flip and colour jitter on [0, 1] NCHW batches, from one seeded generator.</summary>
public static class Augmenter
{
    public static Tensor Apply(Tensor images, Augmentation a, Generator g)
    {
        if (a.CropScaleMin >= 1 && !a.HorizontalFlip && a.ColorJitter <= 0) return images.alias();
        long n = images.shape[0], h = images.shape[2], w = images.shape[3];
        var outputs = new List<Tensor>((int)n);
        for (long i = 0; i < n; i++)
        {
            var x = images[i].unsqueeze(0);
            if (a.CropScaleMin < 1)
            {
                double area = Uniform(g, a.CropScaleMin, 1.0);
                double logRatio = Uniform(g, Math.Log(3.0 / 4), Math.Log(4.0 / 3));
                double ratio = Math.Exp(logRatio);
                long cw = Math.Clamp((long)Math.Round(Math.Sqrt(area * h * w * ratio)), 1, w);
                long ch = Math.Clamp((long)Math.Round(Math.Sqrt(area * h * w / ratio)), 1, h);
                long top = (long)Math.Floor(Uniform(g, 0, h - ch + 1 - 1e-9));
                long left = (long)Math.Floor(Uniform(g, 0, w - cw + 1 - 1e-9));
                x = F.interpolate(x.narrow(2, top, ch).narrow(3, left, cw), new[] { h, w }, mode: InterpolationMode.Bilinear, align_corners: false);
            }
            if (a.HorizontalFlip && Uniform(g, 0, 1) < 0.5) x = x.flip(3);
            if (a.ColorJitter > 0)
            {
                double j = a.ColorJitter;
                x = x * Uniform(g, 1 - j, 1 + j);
                var mean = x.mean(new long[] { 1, 2, 3 }, keepdim: true);
                x = (x - mean) * Uniform(g, 1 - j, 1 + j) + mean;
                var gray = x.mean(new long[] { 1 }, keepdim: true);
                x = (x - gray) * Uniform(g, 1 - j, 1 + j) + gray;
                x = x.clamp(0, 1);
            }
            outputs.Add(x);
        }
        return torch.cat(outputs, 0);
    }

    static double Uniform(Generator g, double lo, double hi)
    {
        using var r = torch.rand(1, dtype: ScalarType.Float64, generator: g);
        return lo + (hi - lo) * r.item<double>();
    }
}
