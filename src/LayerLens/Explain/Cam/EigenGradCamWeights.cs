using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>Eigen-Grad-CAM: the first principal component of dScore/dA ⊙ A.</summary>
public sealed class EigenGradCamWeights : ICamWeights
{
    public bool NeedsGradients => true;
    public bool AlwaysProject => true;

    public Tensor Weighted(CamLayerContext ctx) => CamWeights.Grad(ctx).mul(ctx.Activations);
}
