using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Explain.Cam;

/// <summary>
/// Score-CAM (Wang et al. 2020): each channel, upsampled to the input and min-max normalised to [0, 1], masks the
/// input; w = softmax over channels of the masked inputs' target scores. The B·K masked passes run in batches.
/// </summary>
public sealed class ScoreCamWeights : ICamWeights
{
    public bool NeedsGradients => false;

    public Tensor Weighted(CamLayerContext ctx)
    {
        var a = ctx.Activations;
        long b = a.shape[0], k = a.shape[1], h = a.shape[2], w = a.shape[3];
        var (height, width) = ctx.Passes.InputSize;
        var flat = a.reshape(b * k, 1, h, w);
        var scores = ctx.Passes.ScoresInBatches(b * k, a.device, idx =>
        {
            var up = F.interpolate(flat.index_select(0, idx), new long[] { height, width }, mode: InterpolationMode.Bilinear, align_corners: false).squeeze(1);
            var lo = up.amin(new long[] { 1, 2 }, keepdim: true);
            var hi = up.amax(new long[] { 1, 2 }, keepdim: true);
            var masks = up.sub(lo).div(hi.sub(lo).add(1e-8));
            return ctx.Passes.MaskedScores(idx.div(k, rounding_mode: RoundingMode.floor), masks);
        });
        var weights = tensor(scores, dtype: ScalarType.Float64).reshape(b, k).softmax(1).to(a.dtype).to(a.device);
        return CamWeights.Scale(weights, a);
    }
}
