using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>XGrad-CAM (Fu et al. 2020): w_k = Σ_ij (A_k / (Σ_ij A_k + ε)) · dScore/dA_k, ε = 1e-7.</summary>
public sealed class XGradCamWeights : ICamWeights
{
    public bool NeedsGradients => true;

    public Tensor Weighted(CamLayerContext ctx)
    {
        var a = ctx.Activations;
        var sumA = a.sum(new long[] { 2, 3 }, keepdim: true);
        var w = CamWeights.Grad(ctx).mul(a).div(sumA.add(1e-7)).sum(new long[] { 2, 3 });
        return CamWeights.Scale(w, a);
    }
}
