using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Models.Onnx.Ops;

public static partial class OnnxOpRegistry
{
    /// <summary>Spatial attributes shared by Conv, ConvTranspose and the pools.</summary>
    sealed record Window(long[]? Kernel, long[]? Strides, long[]? Pads, long[]? Dilations, string AutoPad)
    {
        public static Window Read(OnnxNodeContext ctx) =>
            new(ctx.Ints("kernel_shape"), ctx.Ints("strides"), ctx.Ints("pads"), ctx.Ints("dilations"), ctx.String("auto_pad", "NOTSET"));

        public long[] StridesFor(int n) => Strides ?? Enumerable.Repeat(1L, n).ToArray();
        public long[] DilationsFor(int n) => Dilations ?? Enumerable.Repeat(1L, n).ToArray();

        /// <summary>Begin and end padding per spatial dim, resolving auto_pad for this input size.</summary>
        public (long[] Begin, long[] End) PadsFor(long[] spatial, long[] kernel, bool ceil, OnnxNodeContext ctx)
        {
            int n = spatial.Length;
            var begin = new long[n];
            var end = new long[n];
            var s = StridesFor(n);
            var d = DilationsFor(n);
            switch (AutoPad)
            {
                case "NOTSET":
                    if (Pads != null)
                    {
                        if (Pads.Length != 2 * n) throw ctx.Unsupported($"pads has {Pads.Length} values for {n} spatial dims");
                        for (int i = 0; i < n; i++) { begin[i] = Pads[i]; end[i] = Pads[i + n]; }
                    }
                    break;
                case "VALID":
                    break;
                case "SAME_UPPER":
                case "SAME_LOWER":
                    for (int i = 0; i < n; i++)
                    {
                        long outSize = (spatial[i] + s[i] - 1) / s[i];
                        long total = Math.Max(0, (outSize - 1) * s[i] + (kernel[i] - 1) * d[i] + 1 - spatial[i]);
                        long small = total / 2, big = total - small;
                        (begin[i], end[i]) = AutoPad == "SAME_UPPER" ? (small, big) : (big, small);
                    }
                    break;
                default:
                    throw ctx.Unsupported($"auto_pad='{AutoPad}'");
            }
            return (begin, end);
        }
    }

    /// <summary>F.pad's argument order: last dim first, (begin, end) pairs.</summary>
    static long[] TorchPad(long[] begin, long[] end)
    {
        var p = new long[begin.Length * 2];
        for (int i = 0; i < begin.Length; i++)
        {
            int dim = begin.Length - 1 - i;
            p[2 * i] = begin[dim];
            p[2 * i + 1] = end[dim];
        }
        return p;
    }

    static void RegisterNeural()
    {
        Add("Conv", ctx =>
        {
            var w = Window.Read(ctx);
            long group = ctx.Int("group", 1);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var weight = In(a, 1, ctx);
                var bias = Opt(a, 2);
                int n = (int)x.dim() - 2;
                if (n < 1 || n > 3) throw ctx.Unsupported($"{n}-D convolution");
                var kernel = w.Kernel ?? weight.shape.Skip(2).ToArray();
                var (pb, pe) = w.PadsFor(x.shape.Skip(2).ToArray(), kernel, false, ctx);
                var s = w.StridesFor(n);
                var d = w.DilationsFor(n);
                long[] pad = pb;
                if (!pb.SequenceEqual(pe))
                {
                    x = F.pad(x, TorchPad(pb, pe));
                    pad = new long[n];
                }
                return n switch
                {
                    1 => F.conv1d(x, weight, bias, s[0], pad[0], d[0], group),
                    2 => F.conv2d(x, weight, bias, s, pad, d, group),
                    _ => F.conv3d(x, weight, bias, s, pad, d, group),
                };
            });
        });

        Add("ConvTranspose", ctx =>
        {
            var w = Window.Read(ctx);
            long group = ctx.Int("group", 1);
            var outputPadding = ctx.Ints("output_padding");
            var outputShape = ctx.Ints("output_shape");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var weight = In(a, 1, ctx);
                var bias = Opt(a, 2);
                int n = (int)x.dim() - 2;
                if (n < 1 || n > 3) throw ctx.Unsupported($"{n}-D transposed convolution");
                var kernel = w.Kernel ?? weight.shape.Skip(2).ToArray();
                var s = w.StridesFor(n);
                var d = w.DilationsFor(n);
                var op = outputPadding ?? new long[n];
                var spatial = x.shape.Skip(2).ToArray();
                var full = Enumerable.Range(0, n).Select(i => (spatial[i] - 1) * s[i] + (kernel[i] - 1) * d[i] + 1).ToArray();
                long[] pb = new long[n], pe = new long[n];
                long[] target;
                if (outputShape != null || w.AutoPad is "SAME_UPPER" or "SAME_LOWER")
                {
                    target = outputShape != null ? outputShape.Skip(outputShape.Length - n).ToArray()
                                                 : spatial.Select((v, i) => v * s[i]).ToArray();
                    for (int i = 0; i < n; i++)
                    {
                        // As ONNX Runtime does: a requested size beyond the full result is reached by
                        // extending the end (no negative padding), never by shifting the start.
                        long total = Math.Max(0, full[i] + op[i] - target[i]);
                        if (w.AutoPad == "SAME_UPPER") { pb[i] = total / 2; pe[i] = total - total / 2; }
                        else { pb[i] = total - total / 2; pe[i] = total / 2; }
                    }
                }
                else
                {
                    if (w.AutoPad == "NOTSET" && w.Pads != null)
                        for (int i = 0; i < n; i++) { pb[i] = w.Pads[i]; pe[i] = w.Pads[i + n]; }
                    target = Enumerable.Range(0, n).Select(i => full[i] + op[i] - pb[i] - pe[i]).ToArray();
                }
                var zeros = new long[n];
                Tensor y = n switch
                {
                    1 => F.conv_transpose1d(x, weight, null, s[0], 0, 0, d[0], group),
                    2 => F.conv_transpose2d(x, weight, null, s, zeros, zeros, d, group),
                    _ => F.conv_transpose3d(x, weight, null, s, zeros, zeros, d, group),
                };
                // Begin pads crop the start; the end is cropped or zero-extended to the target size.
                var begin = pb.Select(v => -v).ToArray();
                var end = Enumerable.Range(0, n).Select(i => target[i] - (full[i] - pb[i])).ToArray();
                if (begin.Any(v => v != 0) || end.Any(v => v != 0)) y = F.pad(y, TorchPad(begin, end));
                if (bias is not null)
                {
                    var shape = new long[n + 2];
                    Array.Fill(shape, 1L);
                    shape[1] = bias.shape[0];
                    y = y + bias.reshape(shape);
                }
                return y;
            });
        });

        Add("BatchNormalization", ctx =>
        {
            double eps = ctx.Float("epsilon", 1e-5f);
            double momentum = ctx.Float("momentum", 0.9f);
            bool training = ctx.Int("training_mode", 0) != 0;
            if (ctx.Int("spatial", 1) != 1) throw ctx.Unsupported("spatial=0");
            ctx.Ignore("is_test", "consumed_inputs");
            if (!training && ctx.HasOutput(1))
                throw ctx.Unsupported("running mean/var outputs are requested without training_mode=1 (opset < 14 training graph)");
            if (!training)
                // ONNX momentum weighs the old running value; libtorch's weighs the new batch statistic.
                return One(a => F.batch_norm(In(a, 0, ctx), In(a, 3, ctx), In(a, 4, ctx), In(a, 1, ctx), In(a, 2, ctx),
                    KernelContext.UpdateBatchNormStatistics, 1 - momentum, eps));
            // training_mode=1 is deterministic: normalise by the batch statistics and report updated running
            // statistics (population variance, as the ONNX definition says).
            return a =>
            {
                var x = In(a, 0, ctx);
                var dims = Enumerable.Range(0, (int)x.dim()).Where(i => i != 1).Select(i => (long)i).ToArray();
                var mean = x.mean(dims);
                var variance = torch.var(x, dims, unbiased: false);
                var y = F.batch_norm(x, mean, variance, In(a, 1, ctx), In(a, 2, ctx), false, 0.1, eps);
                var runMean = In(a, 3, ctx) * momentum + mean * (1 - momentum);
                var runVar = In(a, 4, ctx) * momentum + variance * (1 - momentum);
                return new[] { y, runMean, runVar };
            };
        });

        Add("InstanceNormalization", ctx =>
        {
            double eps = ctx.Float("epsilon", 1e-5f);
            return One(a => F.instance_norm(In(a, 0, ctx), null, null, In(a, 1, ctx), In(a, 2, ctx), true, 0.1, eps));
        });

        Add("LayerNormalization", ctx =>
        {
            long axis = ctx.Int("axis", -1);
            double eps = ctx.Float("epsilon", 1e-5f);
            ctx.Ignore("stash_type");
            bool wantStats = ctx.HasOutput(1) || ctx.HasOutput(2);
            return a =>
            {
                var x = In(a, 0, ctx);
                var scale = In(a, 1, ctx);
                var bias = Opt(a, 2);
                long ax = Axis(axis, x.dim());
                var normShape = x.shape.Skip((int)ax).ToArray();
                if (!wantStats && scale.shape.SequenceEqual(normShape) && (bias is null || bias.shape.SequenceEqual(normShape)))
                    return new[] { F.layer_norm(x, normShape, scale, bias, eps) };
                var dims = Enumerable.Range((int)ax, (int)(x.dim() - ax)).Select(i => (long)i).ToArray();
                // Float32 statistics for half-precision inputs; float64 inputs keep their precision, like the fast path.
                var xf = x.dtype == ScalarType.Float64 ? x : x.to_type(ScalarType.Float32);
                var mean = xf.mean(dims, keepdim: true);
                var centered = xf - mean;
                var inv = (centered.pow(2).mean(dims, keepdim: true) + eps).rsqrt();
                var y = (centered * inv).to_type(x.dtype) * scale;
                if (bias is not null) y = y + bias;
                return new[] { y, mean, inv };
            };
        });

        Add("LRN", ctx =>
        {
            long size = ctx.Int("size", 0);
            double alpha = ctx.Float("alpha", 1e-4f), beta = ctx.Float("beta", 0.75f), bias = ctx.Float("bias", 1f);
            if (size <= 0) throw ctx.Unsupported("size must be positive");
            long front = (size - 1) / 2, back = size - 1 - front;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var shape = x.shape;
                var sq = x.pow(2).reshape(shape[0], 1, shape[1], -1);
                sq = F.pad(sq, new long[] { 0, 0, front, back });
                var sum = F.avg_pool2d(sq, new[] { size, 1L }, new[] { 1L, 1L }) * size;
                var div = (sum.reshape(shape) * (alpha / size) + bias).pow(beta);
                return x / div;
            });
        });

        Add("MaxPool", ctx =>
        {
            var w = Window.Read(ctx);
            bool ceil = ctx.Int("ceil_mode", 0) != 0;
            bool columnMajor = ctx.Int("storage_order", 0) != 0;
            bool wantIndices = ctx.HasOutput(1);
            if (w.Kernel == null) throw ctx.Unsupported("kernel_shape is required");
            return a =>
            {
                var x = In(a, 0, ctx);
                int n = w.Kernel.Length;
                if (n < 1 || n > 3) throw ctx.Unsupported($"{n}-D pooling");
                var spatial = x.shape.Skip(2).ToArray();
                var (pb, pe) = w.PadsFor(spatial, w.Kernel, ceil, ctx);
                var xp = x;
                if (pb.Any(v => v != 0) || pe.Any(v => v != 0))
                    xp = F.pad(x, TorchPad(pb, pe), PaddingModes.Constant, LowestValue(x.dtype));
                var s = w.StridesFor(n);
                var d = w.DilationsFor(n);
                // 1-D pools run as 2-D pools over a trailing unit axis.
                var input = n == 1 ? xp.unsqueeze(-1) : xp;
                var k = n == 1 ? new[] { w.Kernel[0], 1L } : w.Kernel;
                var st = n == 1 ? new[] { s[0], 1L } : s;
                var dl = n == 1 ? new[] { d[0], 1L } : d;
                var zero = new long[k.Length];
                if (!wantIndices)
                {
                    var y = k.Length == 2 ? F.max_pool2d(input, k, st, zero, dl, ceil) : F.max_pool3d(input, k, st, zero, dl, ceil);
                    return new[] { n == 1 ? y.squeeze(-1) : y };
                }
                var (values, flat) = k.Length == 2 ? F.max_pool2d_with_indices(input, k, st, zero, dl, ceil)
                                                   : F.max_pool3d_with_indices(input, k, st, zero, dl, ceil);
                if (n == 1) { values = values.squeeze(-1); flat = flat.squeeze(-1); }
                return new[] { values, OnnxPoolIndices(flat, xp.shape.Skip(2).ToArray(), spatial, pb, columnMajor, x.shape[0] * x.shape[1]) };
            };
        });

        Add("AveragePool", ctx =>
        {
            var w = Window.Read(ctx);
            bool ceil = ctx.Int("ceil_mode", 0) != 0;
            bool includePad = ctx.Int("count_include_pad", 0) != 0;
            if (w.Kernel == null) throw ctx.Unsupported("kernel_shape is required");
            if (w.Dilations != null && w.Dilations.Any(v => v != 1)) throw ctx.Unsupported("dilations other than 1");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                int n = w.Kernel.Length;
                var (pb, pe) = w.PadsFor(x.shape.Skip(2).ToArray(), w.Kernel, ceil, ctx);
                var s = w.StridesFor(n);
                bool padded = pb.Any(v => v != 0) || pe.Any(v => v != 0);
                if (!padded && !ceil) return AvgPool(x, w.Kernel, s, null, ctx);
                // Sum over each window, divided by the number of cells that count (real, or real and padding).
                var torchPad = TorchPad(pb, pe);
                var xp = F.pad(x, torchPad);
                var ones = torch.ones(new long[] { 1, 1 }.Concat(x.shape.Skip(2)).ToArray(), dtype: x.dtype, device: x.device);
                var mask = includePad ? torch.ones(new long[] { 1, 1 }.Concat(xp.shape.Skip(2)).ToArray(), dtype: x.dtype, device: x.device)
                                      : F.pad(ones, torchPad);
                var sum = AvgPool(xp, w.Kernel, s, 1, ctx, ceil);
                var count = AvgPool(mask, w.Kernel, s, 1, ctx, ceil);
                return sum / count;
            });
        });

        Add("GlobalAveragePool", ctx => One(a =>
        {
            var x = In(a, 0, ctx);
            return x.mean(Enumerable.Range(2, (int)x.dim() - 2).Select(i => (long)i).ToArray(), keepdim: true);
        }));
        Add("GlobalMaxPool", ctx => One(a =>
        {
            var x = In(a, 0, ctx);
            return x.amax(Enumerable.Range(2, (int)x.dim() - 2).Select(i => (long)i).ToArray(), keepdim: true);
        }));

        Add("Gemm", ctx =>
        {
            double alpha = ctx.Float("alpha", 1f), beta = ctx.Float("beta", 1f);
            bool ta = ctx.Int("transA", 0) != 0, tb = ctx.Int("transB", 0) != 0;
            ctx.Ignore("broadcast");
            return One(a =>
            {
                var A = In(a, 0, ctx);
                var B = In(a, 1, ctx);
                var C = Opt(a, 2);
                if (ta) A = A.t();
                if (tb) B = B.t();
                if (C is not null && alpha == 1 && beta == 1 && C.dim() <= 2) return torch.addmm(C, A, B, 1, 1);
                var y = A.matmul(B);
                if (alpha != 1) y = y * alpha;
                if (C is not null) y = beta == 1 ? y + C : y + C * beta;
                return y;
            });
        });
        Add("MatMul", ctx => One(a => In(a, 0, ctx).matmul(In(a, 1, ctx))));
        Add("Einsum", ctx =>
        {
            var eq = ctx.String("equation", "");
            if (eq.Length == 0) throw ctx.Unsupported("missing equation");
            return One(a => torch.einsum(eq, a.Where(t => t is not null).Cast<Tensor>().ToArray()));
        });

        Add("Softmax", ctx => SoftmaxLike(ctx, (x, dim) => F.softmax(x, dim)));
        Add("LogSoftmax", ctx => SoftmaxLike(ctx, (x, dim) => F.log_softmax(x, dim)));
        Add("Hardmax", ctx => SoftmaxLike(ctx, (x, dim) =>
        {
            var idx = x.argmax(dim, keepdim: true);
            return torch.zeros_like(x).scatter(dim, idx, torch.ones_like(idx, dtype: x.dtype));
        }));

        Add("Dropout", ctx =>
        {
            double attrRatio = ctx.Float("ratio", 0.5f);
            ctx.Ignore("is_test", "seed");
            return a =>
            {
                var x = In(a, 0, ctx);
                if (Opt(a, 2) is { } training && ElementTypes.ToLongs(training)[0] != 0)
                {
                    double ratio = Opt(a, 1) is { } r ? ElementTypes.ToDoubles(r)[0] : ctx.Opset >= 12 ? 0.5 : attrRatio;
                    // With ratio 0 training mode keeps every element; otherwise it draws a random mask.
                    if (ratio != 0) throw ctx.Unsupported($"training_mode=true with ratio {ratio} draws a random mask (training-only behaviour)");
                }
                return new[] { x.alias(), torch.ones_like(x, dtype: ScalarType.Bool) };
            };
        });
    }

    /// <summary>The smallest value of a type: what max-pool padding must hold so it never wins.</summary>
    static double LowestValue(ScalarType type) => type switch
    {
        ScalarType.Byte => 0,
        ScalarType.Int8 => sbyte.MinValue,
        ScalarType.Int16 => short.MinValue,
        ScalarType.Int32 => int.MinValue,
        ScalarType.Int64 => long.MinValue, // -2^63 is exact as a double
        _ => double.NegativeInfinity,
    };

    /// <summary>
    /// Converts libtorch's pool indices (flat within each padded plane) into ONNX's: flat over the whole
    /// unpadded input tensor, in row-major or (storage_order=1) column-major order of the spatial dims.
    /// </summary>
    static Tensor OnnxPoolIndices(Tensor flat, long[] paddedSpatial, long[] spatial, long[] padBegin, bool columnMajor, long planes)
    {
        int n = spatial.Length;
        var rest = flat;
        var coords = new Tensor[n];
        for (int i = n - 1; i >= 0; i--)
        {
            coords[i] = rest.remainder(paddedSpatial[i]) - padBegin[i];
            rest = rest.div(paddedSpatial[i], RoundingMode.floor);
        }
        Tensor index = torch.zeros_like(flat);
        long stride = 1;
        var order = columnMajor ? Enumerable.Range(0, n) : Enumerable.Range(0, n).Reverse();
        foreach (var i in order)
        {
            index = index + coords[i] * stride;
            stride *= spatial[i];
        }
        var plane = torch.arange(planes, dtype: ScalarType.Int64, device: flat.device)
                         .reshape(new long[] { flat.shape[0], flat.shape[1] }.Concat(Enumerable.Repeat(1L, n)).ToArray());
        return index + plane * stride;
    }

    static Tensor AvgPool(Tensor x, long[] kernel, long[] strides, long? divisor, OnnxNodeContext ctx, bool ceil = false)
    {
        int n = kernel.Length;
        var zero = new long[n];
        return n switch
        {
            1 => F.avg_pool2d(x.unsqueeze(-1), new[] { kernel[0], 1L }, new[] { strides[0], 1L }, new long[2], ceil, true, divisor).squeeze(-1),
            2 => F.avg_pool2d(x, kernel, strides, zero, ceil, true, divisor),
            3 => F.avg_pool3d(x, kernel, strides, zero, ceil, true, divisor),
            _ => throw ctx.Unsupported($"{n}-D pooling"),
        };
    }

    static Kernel SoftmaxLike(OnnxNodeContext ctx, Func<Tensor, long, Tensor> f)
    {
        long axis = ctx.Int("axis", ctx.Opset < 13 ? 1 : -1);
        if (ctx.Opset >= 13) return One(a => f(In(a, 0, ctx), axis));
        // Before opset 13 the input is seen as 2-D: [prod(dims before axis), prod(dims from axis)].
        return One(a =>
        {
            var x = In(a, 0, ctx);
            long ax = Axis(axis, x.dim());
            long rows = x.shape.Take((int)ax).Aggregate(1L, (p, v) => p * v);
            return f(x.reshape(rows, -1), 1).reshape(x.shape);
        });
    }
}
