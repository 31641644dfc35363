using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>CAM (Zhou et al. 2016): for a layer followed by global average pooling and a linear head, the weights are
/// the target class's row of the head's matrix, w_k = W[c, k] (read as d logit_c / d pooled_k, exact for a linear head).</summary>
public sealed class ClassActivationWeights : ICamWeights
{
    public bool NeedsGradients => true;

    public Tensor Weighted(CamLayerContext ctx) =>
        CamWeights.Scale(ctx.ClassWeights ?? throw new LayerLensException($"layer '{ctx.Layer}': CAM weights were not computed", ErrorKind.Internal), ctx.Activations);
}
