using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>LayerCAM (Jiang et al. 2021): element-wise ReLU(dScore/dA) ⊙ A.</summary>
public sealed class LayerCamWeights : ICamWeights
{
    public bool NeedsGradients => true;

    public Tensor Weighted(CamLayerContext ctx) => CamWeights.Grad(ctx).relu().mul(ctx.Activations);
}
