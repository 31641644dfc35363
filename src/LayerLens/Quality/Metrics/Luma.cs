using static TorchSharp.torch;

namespace LayerLens.Quality.Metrics;

/// <summary>BT.601 luma, the grey level SSIM was defined on (MATLAB's rgb2gray uses the same weights).</summary>
public static class Luma
{
    public const double R = 0.299, G = 0.587, B = 0.114;

    /// <summary>[N,3,H,W] → [N,1,H,W]; single-channel input is returned as a new reference unchanged.</summary>
    public static Tensor FromRgb(Tensor nchw)
    {
        if (nchw.dim() != 4)
            throw new LayerLensException($"luma needs an [N,C,H,W] tensor, got [{string.Join(",", nchw.shape)}]", ErrorKind.BadInput);
        var c = nchw.shape[1];
        if (c == 1) return nchw.alias();
        if (c != 3)
            throw new LayerLensException($"luma needs 1 or 3 channels, got {c}", ErrorKind.BadInput);
        using var scope = NewDisposeScope();
        var y = nchw[TensorIndex.Colon, TensorIndex.Slice(0, 1)] * R
              + nchw[TensorIndex.Colon, TensorIndex.Slice(1, 2)] * G
              + nchw[TensorIndex.Colon, TensorIndex.Slice(2, 3)] * B;
        return y.MoveToOuterDisposeScope();
    }
}
