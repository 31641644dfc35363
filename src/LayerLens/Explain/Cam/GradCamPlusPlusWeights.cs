using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>
/// Grad-CAM++ (Chattopadhay et al. 2018) with the exponential-score closed form pytorch-grad-cam uses:
/// α = g² / (2g² + Σ_ij A · g³ + ε) where g ≠ 0 (else 0), w_k = Σ_ij α · ReLU(g), ε = 1e-6.
/// </summary>
public sealed class GradCamPlusPlusWeights : ICamWeights
{
    public bool NeedsGradients => true;

    public Tensor Weighted(CamLayerContext ctx)
    {
        var g = CamWeights.Grad(ctx);
        var a = ctx.Activations;
        var g2 = g.pow(2);
        var g3 = g2.mul(g);
        var sumA = a.sum(new long[] { 2, 3 }, keepdim: true);
        var alpha = g2.div(g2.mul(2).add(sumA.mul(g3)).add(1e-6));
        alpha = where(g.ne(0), alpha, zeros_like(alpha));
        var w = alpha.mul(g.relu()).sum(new long[] { 2, 3 });
        return CamWeights.Scale(w, a);
    }
}
