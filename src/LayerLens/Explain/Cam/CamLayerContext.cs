using static TorchSharp.torch;

namespace LayerLens.Explain.Cam;

/// <summary>
/// What a method sees of one target layer for a batch: activations and gradients in NCHW whatever the graph's
/// layout, and the masked or ablated forward passes Score-CAM and Ablation-CAM need. Tensors are detached and
/// owned by the engine's dispose scope.
/// </summary>
public sealed class CamLayerContext
{
    internal CamLayerContext(string layer, Tensor activations, Tensor? gradients, Tensor? classWeights, Tensor targetScores, CamPasses passes)
    {
        Layer = layer;
        Activations = activations;
        Gradients = gradients;
        ClassWeights = classWeights;
        TargetScores = targetScores;
        Passes = passes;
    }

    /// <summary>Target layer name.</summary>
    public string Layer { get; }
    /// <summary>A, [B, K, h, w].</summary>
    public Tensor Activations { get; }
    /// <summary>dScore/dA, [B, K, h, w]; null when no requested method needs gradients.</summary>
    public Tensor? Gradients { get; }
    /// <summary>For CAM: the target class's row of the linear head after global average pooling, [B, K].</summary>
    public Tensor? ClassWeights { get; }
    /// <summary>The target score of each image in the unmodified pass, [B] (float64).</summary>
    public Tensor TargetScores { get; }
    /// <summary>Batched extra forward passes.</summary>
    public CamPasses Passes { get; }
}

/// <summary>Extra forward passes (no gradients), batched by the request's mask batch size.</summary>
public abstract class CamPasses
{
    /// <summary>Mask batch size.</summary>
    public abstract int BatchSize { get; }
    /// <summary>Input height and width.</summary>
    public abstract (int Height, int Width) InputSize { get; }
    /// <summary>
    /// Target scores of the images <paramref name="imageIndex"/> (each [N] entry picks one image of the batch),
    /// each multiplied pixel-wise by a mask in [0, 1] of input size ([N, H, W]); returns [N] float64.
    /// </summary>
    public abstract Tensor MaskedScores(Tensor imageIndex, Tensor masks);
    /// <summary>
    /// Target scores of the images <paramref name="imageIndex"/> with the target layer's channels multiplied by
    /// <paramref name="channelKeep"/> ([N, K], 0 ablates); returns [N] float64.
    /// </summary>
    public abstract Tensor AblatedScores(string layer, Tensor imageIndex, Tensor channelKeep);

    /// <summary>
    /// Runs <paramref name="count"/> extra passes in batches of <see cref="BatchSize"/>: <paramref name="scoresOf"/> gets
    /// the int64 pass indices of one batch (on <paramref name="device"/>; CPU when null) and returns their [N] float64
    /// scores, which are gathered in pass order. Each batch runs in its own dispose scope.
    /// </summary>
    internal double[] ScoresInBatches(long count, Device? device, Func<Tensor, Tensor> scoresOf)
    {
        var scores = new double[count];
        for (long start = 0; start < count; start += BatchSize)
        {
            using var scope = NewDisposeScope();
            long n = Math.Min(BatchSize, count - start);
            var idx = arange(start, start + n, dtype: ScalarType.Int64, device: device);
            var s = scoresOf(idx);
            s.cpu().data<double>().CopyTo(scores, (int)start);
        }
        return scores;
    }
}
