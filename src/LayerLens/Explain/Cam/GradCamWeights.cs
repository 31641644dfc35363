using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>Grad-CAM (Selvaraju et al. 2017): w_k = mean over positions of dScore/dA_k.</summary>
public sealed class GradCamWeights : ICamWeights
{
    public bool NeedsGradients => true;

    public Tensor Weighted(CamLayerContext ctx) =>
        CamWeights.Scale(CamWeights.Grad(ctx).mean(new long[] { 2, 3 }), ctx.Activations);
}
