using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>
/// Ablation-CAM (Desai &amp; Ramaswamy 2020): w_k = (y − y_k) / y, with y the target score and y_k the score when
/// channel k of the target layer is set to zero. The B·K ablated passes run in batches.
/// </summary>
public sealed class AblationCamWeights : ICamWeights
{
    public bool NeedsGradients => false;

    public Tensor Weighted(CamLayerContext ctx)
    {
        var a = ctx.Activations;
        long b = a.shape[0], k = a.shape[1];
        var scores = ctx.Passes.ScoresInBatches(b * k, null, idx =>
        {
            long n = idx.shape[0];
            var keep = ones(n, k, dtype: a.dtype).scatter(1, idx.remainder(k).unsqueeze(1), zeros(n, 1, dtype: a.dtype));
            return ctx.Passes.AblatedScores(ctx.Layer, idx.div(k, rounding_mode: RoundingMode.floor), keep);
        });
        var y = ctx.TargetScores.cpu().to_type(ScalarType.Float64).unsqueeze(1);
        y = where(y.eq(0), full_like(y, 1e-12), y); // a zero score would divide by zero
        var weights = y.sub(tensor(scores, dtype: ScalarType.Float64).reshape(b, k)).div(y).to(a.dtype).to(a.device);
        return CamWeights.Scale(weights, a);
    }
}
