using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Models.Onnx.Ops;

/// <summary>
/// Ops beyond what image classifiers need that detectors, segmenters and transformer exports use
/// (index and scatter ops, pixel shuffles, triangular masks, cumulative sums, grid sampling).
/// </summary>
public static partial class OnnxOpRegistry
{
    static void RegisterExtras()
    {
        Unary("Tan", x => x.tan());
        Unary("Asin", x => x.asin());
        Unary("Acos", x => x.acos());
        Unary("Atan", x => x.atan());
        Unary("Sinh", x => x.sinh());
        Unary("Cosh", x => x.cosh());
        Unary("Asinh", x => x.asinh());
        Unary("Acosh", x => x.acosh());
        Unary("Atanh", x => x.atanh());
        Unary("IsNaN", x => x.isnan());
        Unary("Det", x => torch.linalg.det(x));

        Add("IsInf", ctx =>
        {
            bool negative = ctx.Int("detect_negative", 1) != 0, positive = ctx.Int("detect_positive", 1) != 0;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                if (negative && positive) return x.isinf();
                if (positive) return x.isposinf();
                if (negative) return x.isneginf();
                return torch.zeros_like(x, dtype: ScalarType.Bool);
            });
        });
        Add("Shrink", ctx =>
        {
            double lambd = ctx.Float("lambd", 0.5f), bias = ctx.Float("bias", 0f);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var xd = x.to_type(ScalarType.Float64);
                var y = torch.where(xd < -lambd, xd + bias, torch.where(xd > lambd, xd - bias, torch.zeros_like(xd)));
                return y.to_type(x.dtype);
            });
        });
        Add("BitShift", ctx =>
        {
            var direction = ctx.String("direction", "");
            if (direction is not ("LEFT" or "RIGHT")) throw ctx.Unsupported($"direction='{direction}'");
            return One(a => direction == "LEFT" ? In(a, 0, ctx).bitwise_left_shift(In(a, 1, ctx)) : In(a, 0, ctx).bitwise_right_shift(In(a, 1, ctx)));
        });

        Add("Trilu", ctx =>
        {
            bool upper = ctx.Int("upper", 1) != 0;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long k = Opt(a, 1) is { } kt ? ElementTypes.ToLongs(kt)[0] : 0;
                return upper ? x.triu(k) : x.tril(k);
            });
        });
        Add("CumSum", ctx =>
        {
            bool exclusive = ctx.Int("exclusive", 0) != 0, reverse = ctx.Int("reverse", 0) != 0;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long ax = Axis(ElementTypes.ToLongs(In(a, 1, ctx))[0], x.dim());
                var y = reverse ? x.flip(ax) : x;
                var sum = y.cumsum(ax, x.dtype);
                if (exclusive) sum = sum - y;
                return reverse ? sum.flip(ax) : sum;
            });
        });
        Add("EyeLike", ctx =>
        {
            int? dtypeCode = ctx.Has("dtype") ? (int)ctx.Int("dtype", 1) : null;
            long k = ctx.Int("k", 0);
            var dtype = dtypeCode is { } code ? OnnxTensors.ToScalarType(code, ctx.Describe) : (ScalarType?)null;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var ones = torch.ones(x.shape, dtype: ScalarType.Float64, device: x.device);
                return ones.triu(k).tril(k).to_type(dtype ?? x.dtype);
            });
        });
        Add("OneHot", ctx =>
        {
            long axis = ctx.Int("axis", -1);
            return One(a =>
            {
                var indices = In(a, 0, ctx).to_type(ScalarType.Float64).floor().to_type(ScalarType.Int64);
                long depth = (long)ElementTypes.ToDoubles(In(a, 1, ctx))[0];
                var values = In(a, 2, ctx);
                long rank = indices.dim() + 1;
                long ax = Axis(axis, rank);
                indices = torch.where(indices < 0, indices + depth, indices);
                var shape = Enumerable.Repeat(1L, (int)rank).ToArray();
                shape[ax] = depth;
                var classes = torch.arange(depth, dtype: ScalarType.Int64, device: indices.device).reshape(shape);
                var hot = indices.unsqueeze(ax).eq(classes);
                return torch.where(hot, values[1], values[0]);
            });
        });
        Add("NonZero", ctx => One(a => In(a, 0, ctx).nonzero().t().contiguous()));
        Add("Compress", ctx =>
        {
            long? axis = ctx.Has("axis") ? ctx.Int("axis", 0) : null;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var cond = In(a, 1, ctx).to_type(ScalarType.Bool);
                if (axis is null) x = x.flatten();
                long ax = axis is { } v ? Axis(v, x.dim()) : 0;
                // A condition shorter than the axis selects among its first entries only.
                var keep = cond.narrow(0, 0, Math.Min(cond.shape[0], x.shape[ax])).nonzero().flatten();
                return x.index_select(ax, keep);
            });
        });

        Add("GatherND", ctx =>
        {
            long batchDims = ctx.Int("batch_dims", 0);
            return One(a => GatherND(In(a, 0, ctx), In(a, 1, ctx).to_type(ScalarType.Int64), batchDims));
        });
        OnnxOpFactory scatterElements = ctx =>
        {
            long axis = ctx.Int("axis", 0);
            var reduction = ctx.String("reduction", "none");
            if (reduction is not ("none" or "add" or "mul" or "max" or "min")) throw ctx.Unsupported($"reduction='{reduction}'");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long ax = Axis(axis, x.dim());
                var idx = In(a, 1, ctx).to_type(ScalarType.Int64);
                idx = torch.where(idx < 0, idx + x.shape[ax], idx);
                var upd = In(a, 2, ctx);
                if (reduction == "none") return x.scatter(ax, idx, upd);
                if (reduction == "add") return x.scatter_add(ax, idx, upd);
                return ScatterElementsSequential(x, idx, upd, ax, reduction);
            });
        };
        Add("ScatterElements", scatterElements);
        Add("Scatter", scatterElements);

        Add("DepthToSpace", ctx =>
        {
            long bs = ctx.Int("blocksize", 0);
            var mode = ctx.String("mode", "DCR");
            if (bs <= 0) throw ctx.Unsupported("blocksize must be positive");
            if (mode is not ("DCR" or "CRD")) throw ctx.Unsupported($"mode='{mode}'");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3], oc = c / (bs * bs);
                var y = mode == "DCR"
                    ? x.reshape(b, bs, bs, oc, h, w).permute(0, 3, 4, 1, 5, 2)
                    : x.reshape(b, oc, bs, bs, h, w).permute(0, 1, 4, 2, 5, 3);
                return y.reshape(b, oc, h * bs, w * bs);
            });
        });
        Add("SpaceToDepth", ctx =>
        {
            long bs = ctx.Int("blocksize", 0);
            if (bs <= 0) throw ctx.Unsupported("blocksize must be positive");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
                return x.reshape(b, c, h / bs, bs, w / bs, bs).permute(0, 3, 5, 1, 2, 4).reshape(b, c * bs * bs, h / bs, w / bs);
            });
        });

        Add("MeanVarianceNormalization", ctx =>
        {
            var axes = ctx.Ints("axes") ?? new long[] { 0, 2, 3 };
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var dims = Axes(axes, x.dim());
                var mean = x.mean(dims, keepdim: true);
                // ONNX's function body: (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9).
                var variance = x.pow(2).mean(dims, keepdim: true) - mean.pow(2);
                return (x - mean) / (variance.sqrt() + 1e-9);
            });
        });
        Add("ReverseSequence", ctx =>
        {
            long batchAxis = ctx.Int("batch_axis", 1), timeAxis = ctx.Int("time_axis", 0);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var lens = ElementTypes.ToLongs(In(a, 1, ctx));
                long steps = x.shape[timeAxis], batch = x.shape[batchAxis];
                var idx = new long[steps * batch];
                for (long t = 0; t < steps; t++)
                    for (long b = 0; b < batch; b++)
                        idx[t * batch + b] = t < lens[b] ? lens[b] - 1 - t : t;
                var shape = Enumerable.Repeat(1L, (int)x.dim()).ToArray();
                shape[timeAxis] = steps;
                shape[batchAxis] = batch;
                var index = LongTensor(idx, x.device).reshape(steps, batch);
                if (timeAxis > batchAxis) index = index.t();
                return x.gather(timeAxis, index.reshape(shape).expand(x.shape));
            });
        });

        Add("GridSample", ctx =>
        {
            var mode = ctx.String("mode", "bilinear");
            var padding = ctx.String("padding_mode", "zeros");
            bool alignCorners = ctx.Int("align_corners", 0) != 0;
            var m = mode switch
            {
                "bilinear" or "linear" => GridSampleMode.Bilinear,
                "nearest" => GridSampleMode.Nearest,
                // TorchSharp 0.107 exposes only nearest and bilinear grid sampling.
                _ => throw ctx.Unsupported($"mode='{mode}'"),
            };
            var p = padding switch
            {
                "zeros" => GridSamplePaddingMode.Zeros,
                "border" => GridSamplePaddingMode.Border,
                "reflection" => GridSamplePaddingMode.Reflection,
                _ => throw ctx.Unsupported($"padding_mode='{padding}'"),
            };
            return One(a => F.grid_sample(In(a, 0, ctx), In(a, 1, ctx), m, p, alignCorners));
        });
    }

    /// <summary>GatherND: each innermost index tuple of <paramref name="idx"/> picks a slice of <paramref name="data"/>,
    /// the first <paramref name="batchDims"/> dims being shared batch dims.</summary>
    static Tensor GatherND(Tensor data, Tensor idx, long batchDims)
    {
        int b = (int)batchDims;
        long k = idx.shape[^1];
        var batchShape = data.shape.Take(b).ToArray();
        long batch = batchShape.Aggregate(1L, (p, v) => p * v);
        var indexed = data.shape.Skip(b).Take((int)k).ToArray();
        var rest = data.shape.Skip(b + (int)k).ToArray();
        var flatData = data.reshape(new[] { batch, indexed.Aggregate(1L, (p, v) => p * v) }.Concat(rest).ToArray());
        var tuples = idx.reshape(batch, -1, k);
        var linear = torch.zeros(new[] { batch, tuples.shape[1] }, dtype: ScalarType.Int64, device: data.device);
        for (int j = 0; j < k; j++)
        {
            var c = tuples.select(2, j);
            c = torch.where(c < 0, c + indexed[j], c);
            linear = linear * indexed[j] + c;
        }
        var batchIndex = torch.arange(batch, dtype: ScalarType.Int64, device: data.device).unsqueeze(1).expand(linear.shape);
        var picked = flatData.index(new[] { batchIndex, linear });
        var outShape = idx.shape.Take(idx.shape.Length - 1).Concat(rest).ToArray();
        return picked.reshape(outShape);
    }

    /// <summary>ScatterElements with mul/max/min: updates applied one at a time so repeated indices combine.</summary>
    static Tensor ScatterElementsSequential(Tensor x, Tensor idx, Tensor upd, long axis, string reduction)
    {
        var shape = x.shape;
        var y = ElementTypes.ToDoubles(x);
        var ix = ElementTypes.ToLongs(idx);
        var u = ElementTypes.ToDoubles(upd);
        var ishape = idx.shape;
        var strides = new long[shape.Length];
        long s = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
        var coord = new long[ishape.Length];
        for (long n = 0; n < ix.Length; n++)
        {
            long rem = n;
            for (int d = ishape.Length - 1; d >= 0; d--) { coord[d] = rem % ishape[d]; rem /= ishape[d]; }
            long target = 0;
            for (int d = 0; d < shape.Length; d++) target += (d == axis ? ix[n] : coord[d]) * strides[d];
            y[target] = reduction switch
            {
                "mul" => y[target] * u[n],
                "max" => Math.Max(y[target], u[n]),
                _ => Math.Min(y[target], u[n]),
            };
        }
        return torch.tensor(y, dtype: ScalarType.Float64, device: x.device).reshape(shape).to_type(x.dtype);
    }
}
