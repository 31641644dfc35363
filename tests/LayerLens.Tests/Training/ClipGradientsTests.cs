using LayerLens.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Training;

public class ClipGradientsTests
{
    [Fact]
    public void Clipping_scales_all_gradients_by_the_global_norm_as_pytorch_does()
    {
        // Gradients (3, 4) and (12): global L2 norm 13. clip_grad_norm_(max_norm=1) multiplies by 1 / (13 + 1e-6).
        var a = torch.zeros(2).requires_grad_(true);
        var b = torch.zeros(1).requires_grad_(true);
        a.grad = torch.tensor(new float[] { 3, 4 });
        b.grad = torch.tensor(new float[] { 12 });
        using var opt = new Optimizer(new FineTuneOptions(), new Dictionary<string, (Tensor, double)> { ["a"] = (a, 1.0), ["b"] = (b, 1.0) });
        Assert.Equal(13.0, opt.ClipGradients(1.0), 5);
        double k = 1 / (13 + 1e-6);
        Assert.Equal(new[] { 3 * k, 4 * k }, a.grad!.data<float>().ToArray().Select(v => (double)v), new Tolerance(1e-6));
        Assert.Equal(12 * k, b.grad!.item<float>(), 6);
        // Below the limit nothing changes.
        Assert.Equal(1.0, opt.ClipGradients(5.0), 5);
        Assert.Equal(12 * k, b.grad!.item<float>(), 6);
    }

    sealed class Tolerance(double eps) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= eps;
        public int GetHashCode(double obj) => 0;
    }
}
