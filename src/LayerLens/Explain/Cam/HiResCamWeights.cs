using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>HiResCAM (Draelos &amp; Carin 2020): element-wise dScore/dA ⊙ A, no spatial averaging of the gradient.</summary>
public sealed class HiResCamWeights : ICamWeights
{
    public bool NeedsGradients => true;

    public Tensor Weighted(CamLayerContext ctx) => CamWeights.Grad(ctx).mul(ctx.Activations);
}
