using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>
/// One CAM method: how it weighs a layer's activations. The engine sums the returned activation-weighted maps
/// over channels (or takes their first principal component with eigen-smooth, or always for the Eigen methods),
/// then applies ReLU, upsampling and rescaling.
/// </summary>
public interface ICamWeights
{
    /// <summary>Whether the method reads <see cref="CamLayerContext.Gradients"/>.</summary>
    bool NeedsGradients { get; }
    /// <summary>Whether the map is always the first principal component of the weighted activations (Eigen-CAM, Eigen-Grad-CAM).</summary>
    bool AlwaysProject => false;
    /// <summary>Activation-weighted maps, [B, K, h, w].</summary>
    Tensor Weighted(CamLayerContext ctx);
}

/// <summary>The weights function of each <see cref="CamMethod"/>.</summary>
public static class CamWeights
{
    public static ICamWeights For(CamMethod method) => method switch
    {
        CamMethod.Cam => new ClassActivationWeights(),
        CamMethod.GradCam => new GradCamWeights(),
        CamMethod.GradCamPlusPlus => new GradCamPlusPlusWeights(),
        CamMethod.XGradCam => new XGradCamWeights(),
        CamMethod.HiResCam => new HiResCamWeights(),
        CamMethod.LayerCam => new LayerCamWeights(),
        CamMethod.ScoreCam => new ScoreCamWeights(),
        CamMethod.AblationCam => new AblationCamWeights(),
        CamMethod.EigenCam => new EigenCamWeights(),
        CamMethod.EigenGradCam => new EigenGradCamWeights(),
        _ => throw new LayerLensException($"unknown CAM method {method}", ErrorKind.Usage),
    };

    internal static Tensor Grad(CamLayerContext ctx) =>
        ctx.Gradients ?? throw new LayerLensException($"layer '{ctx.Layer}': gradients were not computed", ErrorKind.Internal);

    /// <summary>Per-channel weights [B, K] times activations.</summary>
    internal static Tensor Scale(Tensor weights, Tensor activations) => activations.mul(weights.unsqueeze(-1).unsqueeze(-1));
}
