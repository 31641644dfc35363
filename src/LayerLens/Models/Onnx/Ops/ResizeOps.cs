using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Models.Onnx.Ops;

public static partial class OnnxOpRegistry
{
    /// <summary>
    /// Resize and Upsample as separable per-axis resampling: each resized axis gathers its source rows and
    /// blends them with weights computed from ONNX's coordinate transform, so every mode, coordinate transform
    /// and rounding rule of the specification is followed exactly and the result stays differentiable.
    /// </summary>
    static Kernel ResizeKernel(OnnxNodeContext ctx, bool upsample)
    {
        string mode = ctx.String("mode", "nearest");
        if (mode == "bilinear" || mode == "trilinear") mode = "linear"; // Upsample-7 spellings
        string coord = upsample ? "asymmetric" : ctx.String("coordinate_transformation_mode", "half_pixel");
        string nearestMode = upsample ? "floor" : ctx.String("nearest_mode", "round_prefer_floor");
        double cubicA = ctx.Float("cubic_coeff_a", -0.75f);
        bool excludeOutside = ctx.Int("exclude_outside", 0) != 0;
        ctx.Ignore("extrapolation_value");
        if (ctx.Int("antialias", 0) != 0) throw ctx.Unsupported("antialias=1");
        var policy = ctx.String("keep_aspect_ratio_policy", "stretch");
        if (policy != "stretch") throw ctx.Unsupported($"keep_aspect_ratio_policy='{policy}'");
        var attrAxes = ctx.Ints("axes");
        var attrScales = upsample && ctx.Opset < 9 ? ctx.Floats("scales") : null;
        if (mode is not ("nearest" or "linear" or "cubic")) throw ctx.Unsupported($"mode='{mode}'");
        if (coord is not ("half_pixel" or "asymmetric" or "align_corners" or "pytorch_half_pixel" or "tf_half_pixel_for_nn" or "half_pixel_symmetric"))
            throw ctx.Unsupported($"coordinate_transformation_mode='{coord}'");
        if (nearestMode is not ("round_prefer_floor" or "round_prefer_ceil" or "floor" or "ceil"))
            throw ctx.Unsupported($"nearest_mode='{nearestMode}'");

        return One(a =>
        {
            var x = In(a, 0, ctx);
            long rank = x.dim();
            double[]? scales = null;
            long[]? sizes = null;
            if (attrScales != null) scales = attrScales.Select(v => (double)v).ToArray();
            else if (upsample || ctx.Opset == 10) scales = ElementTypes.ToDoubles(In(a, 1, ctx));
            else
            {
                if (Opt(a, 2) is { } sc && sc.numel() > 0) scales = ElementTypes.ToDoubles(sc);
                if (Opt(a, 3) is { } sz && sz.numel() > 0) sizes = ElementTypes.ToLongs(sz);
            }
            var axes = attrAxes != null ? Axes(attrAxes, rank) : Enumerable.Range(0, (int)rank).Select(i => (long)i).ToArray();
            var fullScales = Enumerable.Repeat(1.0, (int)rank).ToArray();
            var outSizes = x.shape.ToArray();
            for (int i = 0; i < axes.Length; i++)
            {
                long ax = axes[i];
                if (sizes != null)
                {
                    outSizes[ax] = sizes[i];
                    fullScales[ax] = (double)sizes[i] / x.shape[ax];
                }
                else if (scales != null)
                {
                    fullScales[ax] = scales[i];
                    outSizes[ax] = (long)Math.Floor(x.shape[ax] * scales[i]);
                }
            }
            var y = x;
            for (int ax = 0; ax < rank; ax++)
            {
                if (outSizes[ax] == x.shape[ax] && fullScales[ax] == 1.0) continue;
                y = ResampleAxis(y, ax, outSizes[ax], fullScales[ax], mode, coord, nearestMode, cubicA, excludeOutside);
            }
            return ReferenceEquals(y, x) ? x.alias() : y;
        });
    }

    static double SourceCoordinate(long i, long inSize, long outSize, double scale, string coord) => coord switch
    {
        "half_pixel" => (i + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => outSize > 1 ? (i + 0.5) / scale - 0.5 : 0,
        "align_corners" => outSize == 1 ? 0 : i * (inSize - 1) / (double)(outSize - 1),
        "tf_half_pixel_for_nn" => (i + 0.5) / scale,
        "half_pixel_symmetric" => HalfPixelSymmetric(i, inSize, outSize, scale),
        _ => i / scale, // asymmetric
    };

    static double HalfPixelSymmetric(long i, long inSize, long outSize, double scale)
    {
        double adjustment = outSize / (scale * inSize);
        double center = inSize / 2.0;
        double offset = center * (1 - adjustment);
        return offset + (i + 0.5) / scale - 0.5;
    }

    static Tensor ResampleAxis(Tensor x, int axis, long outSize, double scale, string mode, string coord, string nearestMode, double cubicA, bool excludeOutside)
    {
        long inSize = x.shape[axis];
        if (mode == "nearest")
        {
            var idx = new long[outSize];
            for (long i = 0; i < outSize; i++)
            {
                double c = SourceCoordinate(i, inSize, outSize, scale, coord);
                long k = nearestMode switch
                {
                    "floor" => (long)Math.Floor(c),
                    "ceil" => (long)Math.Ceiling(c),
                    "round_prefer_ceil" => (long)Math.Floor(c + 0.5),
                    _ => c == Math.Floor(c) + 0.5 ? (long)Math.Floor(c) : (long)Math.Round(c, MidpointRounding.AwayFromZero),
                };
                idx[i] = Math.Clamp(k, 0, inSize - 1);
            }
            return x.index_select(axis, LongTensor(idx, x.device));
        }

        int taps = mode == "linear" ? 2 : 4;
        var index = new long[taps][];
        var weight = new double[taps][];
        for (int t = 0; t < taps; t++) { index[t] = new long[outSize]; weight[t] = new double[outSize]; }
        for (long i = 0; i < outSize; i++)
        {
            double c = SourceCoordinate(i, inSize, outSize, scale, coord);
            if (mode == "linear")
            {
                c = Math.Clamp(c, 0, inSize - 1);
                long lo = (long)Math.Floor(c);
                long hi = Math.Min(lo + 1, inSize - 1);
                double frac = c - lo;
                index[0][i] = lo; weight[0][i] = 1 - frac;
                index[1][i] = hi; weight[1][i] = frac;
            }
            else
            {
                long f = (long)Math.Floor(c);
                double t = c - f;
                double[] w = CubicWeights(t, cubicA);
                double total = 0;
                for (int k = 0; k < 4; k++)
                {
                    long src = f - 1 + k;
                    bool outside = src < 0 || src >= inSize;
                    if (outside && excludeOutside) w[k] = 0;
                    index[k][i] = Math.Clamp(src, 0, inSize - 1);
                    total += w[k];
                }
                for (int k = 0; k < 4; k++) weight[k][i] = excludeOutside && total != 0 ? w[k] / total : w[k];
            }
        }
        var shape = Enumerable.Repeat(1L, (int)x.dim()).ToArray();
        shape[axis] = outSize;
        Tensor? acc = null;
        var compute = x.is_floating_point() ? x : x.to_type(ScalarType.Float32);
        for (int t = 0; t < taps; t++)
        {
            var part = compute.index_select(axis, LongTensor(index[t], x.device));
            var w = torch.tensor(weight[t], dtype: ScalarType.Float64, device: x.device).to_type(compute.dtype).reshape(shape);
            acc = acc is null ? part * w : acc + part * w;
        }
        return x.is_floating_point() ? acc! : acc!.round().to_type(x.dtype);
    }

    static double[] CubicWeights(double t, double a)
    {
        static double Near(double d, double a) => ((a + 2) * d - (a + 3)) * d * d + 1;
        static double Far(double d, double a) => ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
        return new[] { Far(t + 1, a), Near(t, a), Near(1 - t, a), Far(2 - t, a) };
    }
}
