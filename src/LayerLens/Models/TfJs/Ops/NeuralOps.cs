using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Models.TfJs.Ops;

public static partial class TfJsOpRegistry
{
    /// <summary>Strides, dilations, padding and data format of a TensorFlow 2-D window op.</summary>
    sealed record Window2D(long[] Strides, long[] Dilations, string Padding, long[]? Explicit, bool Nchw, long[]? KSize)
    {
        public static Window2D Read(TfJsNodeContext ctx, bool pool)
        {
            var format = ctx.String("data_format", "NHWC");
            if (format is not ("NHWC" or "NCHW")) throw ctx.Unsupported($"data_format '{format}'");
            bool nchw = format == "NCHW";
            long[] Pick(long[]? v, string what)
            {
                if (v == null) return new long[] { 1, 1 };
                if (v.Length != 4) throw ctx.Unsupported($"{what} has {v.Length} values, expected 4");
                long[] hw = nchw ? new[] { v[2], v[3] } : new[] { v[1], v[2] };
                long[] nc = nchw ? new[] { v[0], v[1] } : new[] { v[0], v[3] };
                if (nc[0] != 1 || nc[1] != 1) throw ctx.Unsupported($"{what} over batch or channels");
                return hw;
            }
            var strides = Pick(ctx.Ints("strides"), "strides");
            var dilations = pool ? new long[] { 1, 1 } : Pick(ctx.Ints("dilations"), "dilations");
            var ksize = pool ? Pick(ctx.Ints("ksize"), "ksize") : null;
            var padding = ctx.String("padding", "VALID");
            long[]? explicitPads = null;
            var ep = ctx.Ints("explicit_paddings");
            if (padding == "EXPLICIT")
            {
                if (ep == null || ep.Length != 8) throw ctx.Unsupported("EXPLICIT padding needs 8 explicit_paddings");
                explicitPads = nchw ? new[] { ep[4], ep[5], ep[6], ep[7] } : new[] { ep[2], ep[3], ep[4], ep[5] };
            }
            else if (padding is not ("SAME" or "VALID"))
                throw ctx.Unsupported($"padding '{padding}'");
            else if (ep is { Length: > 0 } && ep.Any(v => v != 0))
                throw ctx.Unsupported("explicit_paddings without padding=EXPLICIT");
            return new Window2D(strides, dilations, padding, explicitPads, nchw, ksize);
        }

        /// <summary>(top, bottom, left, right) padding for an input of <paramref name="h"/>×<paramref name="w"/>.</summary>
        public long[] Pads(long h, long w, long kh, long kw)
        {
            if (Padding == "VALID") return new long[4];
            if (Explicit != null) return Explicit;
            var (t, b) = Same(h, kh, Strides[0], Dilations[0]);
            var (l, r) = Same(w, kw, Strides[1], Dilations[1]);
            return new[] { t, b, l, r };
        }

        /// <summary>TensorFlow's SAME: output ceil(in/stride), the smaller half of the padding before.</summary>
        public static (long Before, long After) Same(long size, long kernel, long stride, long dilation)
        {
            long outSize = (size + stride - 1) / stride;
            long total = Math.Max(0, (outSize - 1) * stride + (kernel - 1) * dilation + 1 - size);
            return (total / 2, total - total / 2);
        }

        public Tensor ToNchw(Tensor x) => Nchw ? x : x.permute(0, 3, 1, 2);
        public Tensor FromNchw(Tensor y) => Nchw ? y : y.permute(0, 2, 3, 1);
    }

    /// <summary>Applies pads given as (top, bottom, left, right) to an NCHW tensor, or returns the conv padding when symmetric.</summary>
    static (Tensor X, long[] Padding) PadForConv(Tensor x, long[] p, double value = 0)
    {
        if (p[0] == p[1] && p[2] == p[3]) return (x, new[] { p[0], p[2] });
        return (F.pad(x, new[] { p[2], p[3], p[0], p[1] }, PaddingModes.Constant, value), new long[] { 0, 0 });
    }

    /// <summary>The fused_ops tail of _FusedConv2D, _FusedMatMul and FusedDepthwiseConv2dNative, applied in NCHW or NHWC.</summary>
    static Func<Tensor, Tensor?[], Tensor> Fusions(TfJsNodeContext ctx, int firstArg, bool channelsDim1)
    {
        var ops = ctx.Strings("fused_ops") ?? Array.Empty<string>();
        float alpha = ctx.Float("leakyrelu_alpha", 0.2f);
        ctx.Ignore("epsilon");
        if (ops.Length == 0) return (y, _) => y;
        if (ops[0] != "BiasAdd") throw ctx.Unsupported($"fused op '{ops[0]}' (only BiasAdd first)");
        if (ops.Length > 2) throw ctx.Unsupported($"fused ops {string.Join("+", ops)}");
        string? act = ops.Length == 2 ? ops[1] : null;
        if (act is not (null or "Relu" or "Relu6" or "LeakyRelu" or "Prelu" or "Elu" or "Sigmoid" or "Tanh"))
            throw ctx.Unsupported($"fused activation '{act}'");
        return (y, a) =>
        {
            var bias = In(a, firstArg, ctx);
            y = channelsDim1 && y.dim() == 4 ? y + bias.reshape(1, -1, 1, 1) : y + bias;
            return act switch
            {
                null => y,
                "Relu" => F.relu(y),
                "Relu6" => y.clamp(0, 6),
                "LeakyRelu" => F.leaky_relu(y, alpha),
                "Elu" => F.elu(y, 1.0),
                "Sigmoid" => y.sigmoid(),
                "Tanh" => y.tanh(),
                _ => PreluOf(y, In(a, firstArg + 1, ctx), channelsDim1),
            };
        };
    }

    static Tensor PreluOf(Tensor y, Tensor alpha, bool channelsDim1)
    {
        var al = channelsDim1 && y.dim() == 4 ? alpha.reshape(1, -1, 1, 1) : alpha;
        return torch.where(y.lt(0), y * al, y);
    }

    static void RegisterConvolution(string op, bool depthwise, bool fused)
    {
        Add(op, ctx =>
        {
            var w = Window2D.Read(ctx, pool: false);
            var fusion = fused ? Fusions(ctx, 2, channelsDim1: true) : (y, _) => y;
            // TensorFlow filters are [kh, kw, in, out] (depthwise: [kh, kw, in, multiplier]); libtorch wants [out, in/groups, kh, kw].
            ctx.Prepare(1, depthwise ? "depthwise_oihw" : "oihw", depthwise
                ? f => f.reshape(f.shape[0], f.shape[1], f.shape[2] * f.shape[3], 1).permute(2, 3, 0, 1).contiguous()
                : f => f.permute(3, 2, 0, 1).contiguous());
            return One(a =>
            {
                var x = w.ToNchw(In(a, 0, ctx));
                var filter = In(a, 1, ctx);
                if (x.dim() != 4) throw ctx.Unsupported($"input of rank {x.dim()}");
                long groups = depthwise ? x.shape[1] : Math.Max(1, x.shape[1] / filter.shape[1]);
                var pads = w.Pads(x.shape[2], x.shape[3], filter.shape[2], filter.shape[3]);
                var (xp, padding) = PadForConv(x, pads);
                var y = F.conv2d(xp, filter, null, w.Strides, padding, w.Dilations, groups);
                return w.FromNchw(fusion(y, a));
            });
        });
    }

    static void RegisterNeural()
    {
        RegisterConvolution("Conv2D", depthwise: false, fused: false);
        RegisterConvolution("_FusedConv2D", depthwise: false, fused: true);
        RegisterConvolution("DepthwiseConv2dNative", depthwise: true, fused: false);
        RegisterConvolution("DepthwiseConv2D", depthwise: true, fused: false);
        RegisterConvolution("FusedDepthwiseConv2dNative", depthwise: true, fused: true);

        Add("Conv2DBackpropInput", ctx =>
        {
            var w = Window2D.Read(ctx, pool: false);
            // Filter [kh, kw, out, in] maps to conv_transpose2d's [in, out, kh, kw] by the same permutation as a conv filter.
            ctx.Prepare(1, "oihw", f => f.permute(3, 2, 0, 1).contiguous());
            return One(a =>
            {
                var sizes = Longs(In(a, 0, ctx));
                var filter = In(a, 1, ctx);
                var x = w.ToNchw(In(a, 2, ctx));
                long oh = w.Nchw ? sizes[2] : sizes[1], ow = w.Nchw ? sizes[3] : sizes[2];
                var full = F.conv_transpose2d(x, filter, null, w.Strides, new long[] { 0, 0 }, new long[] { 0, 0 }, w.Dilations, 1);
                // The forward conv's padding of an oh×ow input says where the output window starts in the full result.
                long kh = filter.shape[2], kw = filter.shape[3];
                long top = 0, left = 0;
                if (w.Explicit != null) { top = w.Explicit[0]; left = w.Explicit[2]; }
                else if (w.Padding == "SAME")
                {
                    top = Window2D.Same(oh, kh, w.Strides[0], w.Dilations[0]).Before;
                    left = Window2D.Same(ow, kw, w.Strides[1], w.Dilations[1]).Before;
                }
                long fh = full.shape[2], fw = full.shape[3];
                var y = F.pad(full, new[] { -left, left + ow - fw, -top, top + oh - fh });
                return w.FromNchw(y);
            });
        });

        Add("MaxPool", ctx =>
        {
            var w = Window2D.Read(ctx, pool: true);
            var k = w.KSize!;
            return One(a =>
            {
                var x = w.ToNchw(In(a, 0, ctx));
                var pads = w.Pads(x.shape[2], x.shape[3], k[0], k[1]);
                // TensorFlow ignores padding in max pooling; -inf padding does the same.
                var xp = pads.All(p => p == 0) ? x : F.pad(x, new[] { pads[2], pads[3], pads[0], pads[1] }, PaddingModes.Constant, double.NegativeInfinity);
                return w.FromNchw(F.max_pool2d(xp, k, w.Strides));
            });
        });

        Add("AvgPool", ctx =>
        {
            var w = Window2D.Read(ctx, pool: true);
            var k = w.KSize!;
            return One(a =>
            {
                var x = w.ToNchw(In(a, 0, ctx));
                var pads = w.Pads(x.shape[2], x.shape[3], k[0], k[1]);
                if (pads.All(p => p == 0)) return w.FromNchw(F.avg_pool2d(x, k, w.Strides));
                // TensorFlow averages only the window cells inside the image.
                var torchPads = new[] { pads[2], pads[3], pads[0], pads[1] };
                var sum = F.avg_pool2d(F.pad(x, torchPads), k, w.Strides, divisor_override: 1);
                using var ones = torch.ones(1, 1, x.shape[2], x.shape[3], dtype: x.dtype, device: x.device);
                var count = F.avg_pool2d(F.pad(ones, torchPads), k, w.Strides, divisor_override: 1);
                return w.FromNchw(sum / count);
            });
        });

        foreach (var op in new[] { "MatMul", "_FusedMatMul", "BatchMatMul", "BatchMatMulV2" })
        {
            bool fused = op == "_FusedMatMul";
            Add(op, ctx =>
            {
                bool ta = ctx.Bool(op.StartsWith("Batch") ? "adj_x" : "transpose_a", false);
                bool tb = ctx.Bool(op.StartsWith("Batch") ? "adj_y" : "transpose_b", false);
                var fusion = fused ? Fusions(ctx, 2, channelsDim1: false) : (y, _) => y;
                return One(a =>
                {
                    var x = In(a, 0, ctx);
                    var y = In(a, 1, ctx);
                    if (ta) x = x.transpose(-1, -2);
                    if (tb) y = y.transpose(-1, -2);
                    return fusion(x.matmul(y), a);
                });
            });
        }

        Add("ResizeBilinear", ctx =>
        {
            bool align = ctx.Bool("align_corners", false);
            bool half = ctx.Bool("half_pixel_centers", false);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var size = Longs(In(a, 1, ctx));
                if (x.dim() != 4) throw ctx.Unsupported($"input of rank {x.dim()}");
                var y = Lerp(x, 1, size[0], align, half);
                return Lerp(y, 2, size[1], align, half);
            });
        });

        Add("ResizeNearestNeighbor", ctx =>
        {
            bool align = ctx.Bool("align_corners", false);
            bool half = ctx.Bool("half_pixel_centers", false);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var size = Longs(In(a, 1, ctx));
                if (x.dim() != 4) throw ctx.Unsupported($"input of rank {x.dim()}");
                var y = x.index_select(1, NearestIndex(x.shape[1], size[0], align, half, x.device));
                return y.index_select(2, NearestIndex(x.shape[2], size[1], align, half, x.device));
            });
        });
    }

    /// <summary>TensorFlow.js's source coordinate of output pixel <paramref name="i"/>.</summary>
    static double SourceCoordinate(long i, long inSize, long outSize, bool align, bool half)
    {
        double ratio = Ratio(inSize, outSize, align);
        return half ? ratio * (i + 0.5) - 0.5 : ratio * i;
    }

    static double Ratio(long inSize, long outSize, bool align) =>
        align && outSize > 1 ? (double)(inSize - 1) / (outSize - 1) : (double)inSize / outSize;

    /// <summary>Linear interpolation along one axis with TensorFlow.js's corner rules (floor clamped at 0, ceil at size-1).</summary>
    static Tensor Lerp(Tensor x, long dim, long outSize, bool align, bool half)
    {
        long inSize = x.shape[dim];
        var lo = new long[outSize];
        var hi = new long[outSize];
        var frac = new float[outSize];
        for (long i = 0; i < outSize; i++)
        {
            double src = SourceCoordinate(i, inSize, outSize, align, half);
            long f = Math.Max(0, (long)Math.Floor(src));
            lo[i] = f;
            hi[i] = Math.Min(inSize - 1, (long)Math.Ceiling(src));
            frac[i] = (float)(src - f);
        }
        using var loT = torch.tensor(lo, device: x.device);
        using var hiT = torch.tensor(hi, device: x.device);
        var shape = Enumerable.Repeat(1L, (int)x.dim()).ToArray();
        shape[dim] = outSize;
        using var fr = torch.tensor(frac, device: x.device).to_type(x.dtype).reshape(shape);
        var a = x.index_select(dim, loT);
        var b = x.index_select(dim, hiT);
        return a + (b - a) * fr;
    }

    static Tensor NearestIndex(long inSize, long outSize, bool align, bool half, Device device)
    {
        var idx = new long[outSize];
        for (long i = 0; i < outSize; i++)
        {
            // Unlike bilinear, TensorFlow.js's nearest neighbour does not subtract the half pixel again.
            double ratio = Ratio(inSize, outSize, align);
            double src = half ? ratio * (i + 0.5) : ratio * i;
            long n = Math.Min(inSize - 1, align ? (long)Math.Floor(src + 0.5) : (long)Math.Floor(src));
            idx[i] = half ? Math.Max(0, n) : n;
        }
        return torch.tensor(idx, device: device);
    }
}
