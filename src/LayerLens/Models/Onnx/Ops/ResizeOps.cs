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
        double extrapolation = ctx.Float("extrapolation_value", 0f);
        if (ctx.Int("antialias", 0) != 0) throw ctx.Unsupported("antialias=1");
        var policy = ctx.String("keep_aspect_ratio_policy", "stretch");
        if (policy != "stretch") throw ctx.Unsupported($"keep_aspect_ratio_policy='{policy}'");
        var attrAxes = ctx.Ints("axes");
        var attrScales = upsample && ctx.Opset < 9 ? ctx.Floats("scales") : null;
        if (mode is not ("nearest" or "linear" or "cubic")) throw ctx.Unsupported($"mode='{mode}'");
        if (coord is not ("half_pixel" or "asymmetric" or "align_corners" or "pytorch_half_pixel" or "tf_half_pixel_for_nn" or "half_pixel_symmetric" or "tf_crop_and_resize"))
            throw ctx.Unsupported($"coordinate_transformation_mode='{coord}'");
        if (nearestMode is not ("round_prefer_floor" or "round_prefer_ceil" or "floor" or "ceil"))
            throw ctx.Unsupported($"nearest_mode='{nearestMode}'");

        return One(a =>
        {
            var x = In(a, 0, ctx);
            long rank = x.dim();
            double[]? scales = null;
            long[]? sizes = null;
            double[]? roi = null;
            if (coord == "tf_crop_and_resize")
            {
                roi = Opt(a, 1) is { } r && r.numel() > 0 ? ElementTypes.ToDoubles(r) : null;
                if (roi == null) throw ctx.Unsupported("tf_crop_and_resize without an roi input");
            }
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
            // The length the coordinate transforms divide by: ONNX's reference uses scale * input length when
            // scales are given, which differs from the (floored) output size when that product is fractional.
            var resizedLengths = x.shape.Select(v => (double)v).ToArray();
            var roiStart = new double[rank];
            var roiEnd = Enumerable.Repeat(1.0, (int)rank).ToArray();
            if (roi != null)
            {
                int m = roi.Length / 2;
                if (m != axes.Length && m != rank) throw ctx.Unsupported($"roi of {roi.Length} values for {axes.Length} axes");
                for (int i = 0; i < axes.Length; i++)
                {
                    int k = m == axes.Length ? i : (int)axes[i];
                    roiStart[axes[i]] = roi[k];
                    roiEnd[axes[i]] = roi[k + m];
                }
            }
            for (int i = 0; i < axes.Length; i++)
            {
                long ax = axes[i];
                if (sizes != null)
                {
                    outSizes[ax] = sizes[i];
                    fullScales[ax] = (double)sizes[i] / x.shape[ax];
                    resizedLengths[ax] = sizes[i];
                }
                else if (scales != null)
                {
                    fullScales[ax] = scales[i];
                    double crop = roiEnd[ax] - roiStart[ax];
                    outSizes[ax] = (long)Math.Floor(x.shape[ax] * crop * scales[i]);
                    resizedLengths[ax] = x.shape[ax] * crop * scales[i];
                }
            }
            var y = x;
            for (int ax = 0; ax < rank; ax++)
            {
                if (outSizes[ax] == x.shape[ax] && fullScales[ax] == 1.0 && roi == null) continue;
                var axis = new ResizeAxis(outSizes[ax], resizedLengths[ax], fullScales[ax], roiStart[ax], roiEnd[ax]);
                y = ResampleAxis(y, ax, axis, mode, coord, nearestMode, cubicA, excludeOutside, extrapolation);
            }
            return ReferenceEquals(y, x) ? x.alias() : y;
        });
    }

    /// <summary>One axis of a resize: output size, the (possibly fractional) resized length, scale and crop.</summary>
    readonly record struct ResizeAxis(long OutSize, double ResizedLength, double Scale, double RoiStart, double RoiEnd);

    static double SourceCoordinate(long i, long inSize, ResizeAxis a, string coord) => coord switch
    {
        "half_pixel" => (i + 0.5) / a.Scale - 0.5,
        "pytorch_half_pixel" => a.OutSize > 1 ? (i + 0.5) / a.Scale - 0.5 : 0,
        "align_corners" => a.ResizedLength == 1 ? 0 : i * (inSize - 1) / (a.ResizedLength - 1),
        "tf_half_pixel_for_nn" => (i + 0.5) / a.Scale,
        "half_pixel_symmetric" => HalfPixelSymmetric(i, inSize, a.OutSize, a.Scale),
        "tf_crop_and_resize" => a.OutSize > 1
            ? a.RoiStart * (inSize - 1) + i * (a.RoiEnd - a.RoiStart) * (inSize - 1) / (a.OutSize - 1)
            : 0.5 * (a.RoiStart + a.RoiEnd) * (inSize - 1),
        _ => i / a.Scale, // asymmetric
    };

    static double HalfPixelSymmetric(long i, long inSize, long outSize, double scale)
    {
        double adjustment = outSize / (scale * inSize);
        double center = inSize / 2.0;
        double offset = center * (1 - adjustment);
        return offset + (i + 0.5) / scale - 0.5;
    }

    static Tensor ResampleAxis(Tensor x, int axis, ResizeAxis a, string mode, string coord, string nearestMode, double cubicA, bool excludeOutside, double extrapolation)
    {
        long inSize = x.shape[axis];
        long outSize = a.OutSize;
        // tf_crop_and_resize fills positions that fall outside the input with the extrapolation value.
        var outside = new bool[outSize];
        if (coord == "tf_crop_and_resize")
            for (long i = 0; i < outSize; i++)
            {
                double c = SourceCoordinate(i, inSize, a, coord);
                outside[i] = c < 0 || c > inSize - 1;
            }
        if (mode == "nearest")
        {
            var idx = new long[outSize];
            for (long i = 0; i < outSize; i++)
            {
                double c = SourceCoordinate(i, inSize, a, coord);
                long k = nearestMode switch
                {
                    "floor" => (long)Math.Floor(c),
                    "ceil" => (long)Math.Ceiling(c),
                    "round_prefer_ceil" => (long)Math.Floor(c + 0.5),
                    _ => c == Math.Floor(c) + 0.5 ? (long)Math.Floor(c) : (long)Math.Round(c, MidpointRounding.AwayFromZero),
                };
                idx[i] = Math.Clamp(k, 0, inSize - 1);
            }
            return Extrapolate(x.index_select(axis, LongTensor(idx, x.device)), axis, outside, extrapolation);
        }

        int taps = mode == "linear" ? 2 : 4;
        var index = new long[taps][];
        var weight = new double[taps][];
        for (int t = 0; t < taps; t++) { index[t] = new long[outSize]; weight[t] = new double[outSize]; }
        for (long i = 0; i < outSize; i++)
        {
            double c = SourceCoordinate(i, inSize, a, coord);
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
                    bool beyond = src < 0 || src >= inSize;
                    if (beyond && excludeOutside) w[k] = 0;
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
        var result = x.is_floating_point() ? acc! : acc!.round().to_type(x.dtype);
        return Extrapolate(result, axis, outside, extrapolation);
    }

    /// <summary>Sets the marked positions along <paramref name="axis"/> to <paramref name="value"/>. Later axes
    /// blend with weights summing to one, so a filled row stays filled.</summary>
    static Tensor Extrapolate(Tensor y, int axis, bool[] outside, double value)
    {
        if (!outside.Any(o => o)) return y;
        var shape = Enumerable.Repeat(1L, (int)y.dim()).ToArray();
        shape[axis] = outside.Length;
        var mask = torch.tensor(outside, device: y.device).reshape(shape);
        return torch.where(mask, torch.full(1, value, dtype: y.dtype, device: y.device).reshape(Enumerable.Repeat(1L, (int)y.dim()).ToArray()), y);
    }

    static double[] CubicWeights(double t, double a)
    {
        static double Near(double d, double a) => ((a + 2) * d - (a + 3)) * d * d + 1;
        static double Far(double d, double a) => ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
        return new[] { Far(t + 1, a), Near(t, a), Near(1 - t, a), Far(2 - t, a) };
    }
}
