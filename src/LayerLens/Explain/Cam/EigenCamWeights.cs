using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>Eigen-CAM (Muhammad &amp; Yeasin 2020): the first principal component of the activations (no class, no gradient).</summary>
public sealed class EigenCamWeights : ICamWeights
{
    public bool NeedsGradients => false;
    public bool AlwaysProject => true;

    public Tensor Weighted(CamLayerContext ctx) => ctx.Activations.alias();
}
