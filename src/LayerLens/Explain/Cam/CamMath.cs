using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Explain.Cam;

/// <summary>The shared steps of every CAM: channel sum or first principal component, upsampling, rescaling.</summary>
public static class CamMath
{
    /// <summary>
    /// First principal component of activation-weighted maps [B, K, h, w] → [B, h, w]: the h·w × K matrix is centred
    /// over positions and projected on its first right singular vector. The sign is fixed so that the entry of largest
    /// magnitude is positive (as scikit-learn's svd_flip fixes it), so the map does not flip between runs.
    /// </summary>
    public static Tensor Project(Tensor weighted)
    {
        using var scope = NewDisposeScope();
        long b = weighted.shape[0], k = weighted.shape[1], h = weighted.shape[2], w = weighted.shape[3];
        var x = weighted.to_type(ScalarType.Float64).reshape(b, k, h * w).transpose(1, 2);
        var xc = x.sub(x.mean(new long[] { 1 }, keepdim: true));
        var (_, _, vh) = linalg.svd(xc, fullMatrices: false);
        var v = vh.select(1, 0).unsqueeze(-1);                       // [B, K, 1]
        var p = xc.matmul(v).squeeze(-1);                             // [B, hw]
        var peak = p.gather(1, p.abs().argmax(1, keepdim: true));
        var sign = where(peak.lt(0), full_like(peak, -1.0), full_like(peak, 1.0));
        return p.mul(sign).reshape(b, h, w).to(weighted.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Bilinear resize (half-pixel centres, no antialiasing) of maps [B, h, w] to [B, height, width].</summary>
    public static Tensor Upsample(Tensor maps, long height, long width)
    {
        if (maps.shape[1] == height && maps.shape[2] == width) return maps.alias();
        using var m = maps.unsqueeze(1);
        using var up = F.interpolate(m, new[] { height, width }, mode: InterpolationMode.Bilinear, align_corners: false);
        return up.squeeze(1);
    }

    /// <summary>Per-map rescale to [0, 1]: (x − min) / (max − min + 1e-7); an all-equal map becomes all zeros.</summary>
    public static Tensor Rescale(Tensor maps)
    {
        using var scope = NewDisposeScope();
        var lo = maps.amin(new long[] { 1, 2 }, keepdim: true);
        var shifted = maps.sub(lo);
        var hi = shifted.amax(new long[] { 1, 2 }, keepdim: true);
        // An explicit Scalar held to the end of the call: an implicit one can be finalised by the GC while libtorch
        // still reads it ("Unknown scalar type", seen once under a busy test run).
        using var eps = 1e-7.ToScalar();
        return shifted.div(hi.add(eps)).MoveToOuterDisposeScope();
    }
}
