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

        Add("NonMaxSuppression", ctx =>
        {
            bool centerBox = ctx.Int("center_point_box", 0) != 0;
            return One(a =>
            {
                long maxPerClass = Opt(a, 2) is { } m && m.numel() > 0 ? ElementTypes.ToLongs(m)[0] : 0;
                double iou = Opt(a, 3) is { } t && t.numel() > 0 ? ElementTypes.ToDoubles(t)[0] : 0;
                double? minScore = Opt(a, 4) is { } st && st.numel() > 0 ? ElementTypes.ToDoubles(st)[0] : null;
                return NonMaxSuppression(In(a, 0, ctx), In(a, 1, ctx), maxPerClass, iou, minScore, centerBox);
            });
        });
        Add("NegativeLogLikelihoodLoss", ctx =>
        {
            var reduction = ctx.String("reduction", "mean");
            long? ignore = ctx.Has("ignore_index") ? ctx.Int("ignore_index", 0) : null;
            if (reduction is not ("none" or "sum" or "mean")) throw ctx.Unsupported($"reduction='{reduction}'");
            return One(a => NllLoss(In(a, 0, ctx), In(a, 1, ctx), Opt(a, 2), reduction, ignore));
        });
        Add("SoftmaxCrossEntropyLoss", ctx =>
        {
            var reduction = ctx.String("reduction", "mean");
            long? ignore = ctx.Has("ignore_index") ? ctx.Int("ignore_index", 0) : null;
            if (reduction is not ("none" or "sum" or "mean")) throw ctx.Unsupported($"reduction='{reduction}'");
            return a =>
            {
                var logProb = F.log_softmax(In(a, 0, ctx), 1);
                return new[] { NllLoss(logProb, In(a, 1, ctx), Opt(a, 2), reduction, ignore), logProb };
            };
        });

        Add("HannWindow", ctx => WindowOp(ctx, 0.5, 0.5));
        Add("HammingWindow", ctx => WindowOp(ctx, 25.0 / 46, 21.0 / 46));
        Add("BlackmanWindow", ctx => WindowOp(ctx, 0.42, 0.5, 0.08));

        Add("QuantizeLinear", ctx =>
        {
            long axis = ctx.Int("axis", 1);
            ctx.Ignore("saturate");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var zp = Opt(a, 2);
                var type = zp?.dtype ?? ScalarType.Byte;
                long ax = Axis(axis, x.dim());
                var y = (x.to_type(ScalarType.Float32) / PerAxis(In(a, 1, ctx).to_type(ScalarType.Float32), ax, x.dim())).round();
                if (zp is not null) y = y + PerAxis(zp.to_type(ScalarType.Float32), ax, x.dim());
                var (lo, hi) = IntegerRange(type);
                return y.clamp(lo, hi).to_type(type);
            });
        });
        Add("DequantizeLinear", ctx =>
        {
            long axis = ctx.Int("axis", 1);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var scale = In(a, 1, ctx);
                long ax = Axis(axis, x.dim());
                var y = x.to_type(ScalarType.Float32);
                if (Opt(a, 2) is { } zp) y = y - PerAxis(zp.to_type(ScalarType.Float32), ax, x.dim());
                return (y * PerAxis(scale, ax, x.dim())).to_type(scale.dtype);
            });
        });
        Add("DynamicQuantizeLinear", ctx => a =>
        {
            var x = In(a, 0, ctx).to_type(ScalarType.Float32);
            // The range always includes zero so that zero is exactly representable (ONNX's definition).
            var max = x.max().clamp_min(0);
            var min = x.min().clamp_max(0);
            var scale = (max - min) / 255;
            var zp = (-min / scale).round().clamp(0, 255);
            var y = ((x / scale).round() + zp).clamp(0, 255).to_type(ScalarType.Byte);
            return new[] { y, scale, zp.to_type(ScalarType.Byte) };
        });

        // Integer and quantized linear ops compute in float64, where int8/uint8 products sum exactly.
        Add("ConvInteger", ctx =>
        {
            var conv = Factories["Conv"](ctx);
            return One(a =>
            {
                var x = Centered(In(a, 0, ctx), Opt(a, 2), 1);
                var w = Centered(In(a, 1, ctx), Opt(a, 3), 0);
                return conv(new Tensor?[] { x, w, null })[0].round().to_type(ScalarType.Int32);
            });
        });
        Add("MatMulInteger", ctx => One(a =>
        {
            var A = In(a, 0, ctx);
            // A's zero point may be per row; B's per column (which broadcasts as is).
            var azp = Opt(a, 2) is { } z && z.dim() == 1 && z.shape[0] > 1 ? z.reshape(-1, 1) : Opt(a, 2);
            var x = Centered(A, azp, -1);
            var y = Centered(In(a, 1, ctx), Opt(a, 3), -1);
            return x.matmul(y).round().to_type(ScalarType.Int32);
        }));
        Add("QLinearConv", ctx =>
        {
            var conv = Factories["Conv"](ctx);
            return One(a =>
            {
                var x = Centered(In(a, 0, ctx), Opt(a, 2), 1);
                var w = Centered(In(a, 3, ctx), Opt(a, 5), 0);
                var xScale = In(a, 1, ctx).to_type(ScalarType.Float64);
                var wScale = In(a, 4, ctx).to_type(ScalarType.Float64);
                var bias = Opt(a, 8)?.to_type(ScalarType.Float64);
                var acc = conv(new Tensor?[] { x, w, bias })[0];
                var scale = (xScale * wScale).reshape(1, -1, 1, 1);
                if (acc.dim() != 4) scale = scale.reshape(new long[] { 1, -1 }.Concat(Enumerable.Repeat(1L, (int)acc.dim() - 2)).ToArray());
                return Requantize(acc * scale, In(a, 6, ctx), Opt(a, 7));
            });
        });
        Add("QLinearMatMul", ctx => One(a =>
        {
            var x = Centered(In(a, 0, ctx), Opt(a, 2), -1);
            var y = Centered(In(a, 3, ctx), Opt(a, 5), -1);
            var real = x.matmul(y) * (In(a, 1, ctx).to_type(ScalarType.Float64) * In(a, 4, ctx).to_type(ScalarType.Float64));
            return Requantize(real, In(a, 6, ctx), Opt(a, 7));
        }));
        Add("MaxUnpool", ctx =>
        {
            var kernel = ctx.Ints("kernel_shape") ?? throw ctx.Unsupported("kernel_shape is required");
            var strides = ctx.Ints("strides") ?? Enumerable.Repeat(1L, kernel.Length).ToArray();
            var pads = ctx.Ints("pads") ?? new long[kernel.Length * 2];
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var idx = In(a, 1, ctx).to_type(ScalarType.Int64);
                int n = kernel.Length;
                var shape = x.shape.Take(2).Concat(Enumerable.Range(0, n).Select(i => (x.shape[i + 2] - 1) * strides[i] + kernel[i] - pads[i] - pads[i + n])).ToArray();
                long total = shape.Aggregate(1L, (p, v) => p * v);
                // Indices are flat positions in the unpooled tensor of the inferred shape (MaxPool's Indices
                // output); a larger requested output_shape adds zeros at the end of each spatial axis.
                var y = torch.zeros(total, dtype: x.dtype, device: x.device).scatter(0, idx.flatten(), x.flatten()).reshape(shape);
                if (Opt(a, 2) is { } os)
                {
                    var target = ElementTypes.ToLongs(os);
                    var extra = Enumerable.Range(0, n).Select(i => target[i + 2] - shape[i + 2]).ToArray();
                    if (extra.Any(v => v != 0)) y = F.pad(y, TorchPad(new long[n], extra));
                }
                return y;
            });
        });

        Add("RoiAlign", ctx =>
        {
            var mode = ctx.String("mode", "avg");
            if (mode is not ("avg" or "max")) throw ctx.Unsupported($"mode='{mode}'");
            var coord = ctx.String("coordinate_transformation_mode", ctx.Opset >= 16 ? "half_pixel" : "output_half_pixel");
            if (coord is not ("half_pixel" or "output_half_pixel")) throw ctx.Unsupported($"coordinate_transformation_mode='{coord}'");
            var p = new RoiAlignParams(ctx.Int("output_height", 1), ctx.Int("output_width", 1), ctx.Int("sampling_ratio", 0),
                                       ctx.Float("spatial_scale", 1f), coord == "half_pixel", mode == "max");
            return One(a => RoiAlign(In(a, 0, ctx), In(a, 1, ctx), In(a, 2, ctx), p));
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

    /// <summary>
    /// NonMaxSuppression per batch and class: candidates above the score threshold in descending score order
    /// (ties by box index), each kept unless its IoU with a kept box exceeds the threshold.
    /// </summary>
    static Tensor NonMaxSuppression(Tensor boxes, Tensor scores, long maxPerClass, double iouThreshold, double? scoreThreshold, bool centerBox)
    {
        long batches = boxes.shape[0], count = boxes.shape[1], classes = scores.shape[1];
        var b = ElementTypes.ToDoubles(boxes);
        var sc = ElementTypes.ToDoubles(scores);
        var selected = new List<long>();
        for (long n = 0; n < batches; n++)
        {
            var corners = new (double Y1, double X1, double Y2, double X2)[count];
            for (long i = 0; i < count; i++)
            {
                long o = (n * count + i) * 4;
                if (centerBox)
                {
                    double xc = b[o], yc = b[o + 1], w = b[o + 2], h = b[o + 3];
                    corners[i] = (yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2);
                }
                else
                    corners[i] = (Math.Min(b[o], b[o + 2]), Math.Min(b[o + 1], b[o + 3]), Math.Max(b[o], b[o + 2]), Math.Max(b[o + 1], b[o + 3]));
            }
            for (long c = 0; c < classes; c++)
            {
                long baseIndex = (n * classes + c) * count;
                var order = Enumerable.Range(0, (int)count)
                    .Where(i => scoreThreshold is not { } t || sc[baseIndex + i] > t)
                    .OrderByDescending(i => sc[baseIndex + i]).ThenBy(i => i).ToList();
                var kept = new List<int>();
                foreach (var i in order)
                {
                    if (kept.Count >= maxPerClass) break;
                    if (kept.Any(k => Iou(corners[k], corners[i]) > iouThreshold)) continue;
                    kept.Add(i);
                    selected.AddRange(new[] { n, c, (long)i });
                }
            }
        }
        return torch.tensor(selected.ToArray(), dtype: ScalarType.Int64).reshape(-1, 3).to(boxes.device);
    }

    static double Iou((double Y1, double X1, double Y2, double X2) a, (double Y1, double X1, double Y2, double X2) b)
    {
        double ih = Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1), iw = Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1);
        if (ih <= 0 || iw <= 0) return 0;
        double inter = ih * iw;
        double union = (a.Y2 - a.Y1) * (a.X2 - a.X1) + (b.Y2 - b.Y1) * (b.X2 - b.X1) - inter;
        return union <= 0 ? 0 : inter / union;
    }

    /// <summary>NegativeLogLikelihoodLoss on log-probabilities [N, C, d...] and class targets [N, d...].</summary>
    static Tensor NllLoss(Tensor logProb, Tensor target, Tensor? weight, string reduction, long? ignoreIndex)
    {
        target = target.to_type(ScalarType.Int64);
        var valid = ignoreIndex is { } ig ? target.ne(ig) : torch.ones_like(target, dtype: ScalarType.Bool);
        // Ignored targets may lie outside [0, C); they pick class 0 and then get weight zero.
        var safe = torch.where(valid, target, torch.zeros_like(target));
        var picked = logProb.gather(1, safe.unsqueeze(1)).squeeze(1);
        var w = weight is null ? torch.ones_like(picked) : weight.index_select(0, safe.flatten()).reshape(safe.shape);
        w = torch.where(valid, w, torch.zeros_like(w));
        var loss = -picked * w;
        return reduction switch
        {
            "none" => loss,
            "sum" => loss.sum(),
            _ => loss.sum() / w.sum(),
        };
    }

    sealed record RoiAlignParams(long OutH, long OutW, long SamplingRatio, double SpatialScale, bool HalfPixel, bool Max);

    /// <summary>
    /// RoiAlign as ONNX (and ONNX Runtime) define it: each output bin averages (or, in max mode, takes the
    /// largest weighted corner of) bilinear samples on a regular grid. Built from gathers and weights so the
    /// result stays differentiable with respect to the feature map.
    /// </summary>
    static Tensor RoiAlign(Tensor x, Tensor rois, Tensor batchIndices, RoiAlignParams p)
    {
        long channels = x.shape[1], height = x.shape[2], width = x.shape[3];
        var r = ElementTypes.ToDoubles(rois);
        var bi = ElementTypes.ToLongs(batchIndices);
        var outputs = new List<Tensor>();
        double offset = p.HalfPixel ? 0.5 : 0;
        for (int n = 0; n < bi.Length; n++)
        {
            double x0 = r[4 * n] * p.SpatialScale - offset, y0 = r[4 * n + 1] * p.SpatialScale - offset;
            double x1 = r[4 * n + 2] * p.SpatialScale - offset, y1 = r[4 * n + 3] * p.SpatialScale - offset;
            double rw = x1 - x0, rh = y1 - y0;
            if (!p.HalfPixel) { rw = Math.Max(rw, 1); rh = Math.Max(rh, 1); }
            double binH = rh / p.OutH, binW = rw / p.OutW;
            long gh = p.SamplingRatio > 0 ? p.SamplingRatio : (long)Math.Ceiling(rh / p.OutH);
            long gw = p.SamplingRatio > 0 ? p.SamplingRatio : (long)Math.Ceiling(rw / p.OutW);
            long samples = Math.Max(gh * gw, 1);
            if (gh * gw == 0)
            {
                // An empty region has no samples; the specification's division by max(count, 1) gives zeros.
                outputs.Add(torch.zeros(new[] { channels, p.OutH, p.OutW }, dtype: x.dtype, device: x.device));
                continue;
            }
            long cells = p.OutH * p.OutW * gh * gw * 4;
            var index = new long[cells];
            var weight = new double[cells];
            long k = 0;
            for (long ph = 0; ph < p.OutH; ph++)
                for (long pw = 0; pw < p.OutW; pw++)
                    for (long iy = 0; iy < gh; iy++)
                        for (long ix = 0; ix < gw; ix++, k += 4)
                        {
                            double yy = y0 + ph * binH + (iy + 0.5) * binH / gh;
                            double xx = x0 + pw * binW + (ix + 0.5) * binW / gw;
                            if (yy < -1 || yy > height || xx < -1 || xx > width) continue; // contributes zero
                            yy = Math.Max(yy, 0); xx = Math.Max(xx, 0);
                            long yl = (long)yy, xl = (long)xx, yh, xh;
                            if (yl >= height - 1) { yl = yh = height - 1; yy = yl; } else yh = yl + 1;
                            if (xl >= width - 1) { xl = xh = width - 1; xx = xl; } else xh = xl + 1;
                            double ly = yy - yl, lx = xx - xl, hy = 1 - ly, hx = 1 - lx;
                            index[k] = yl * width + xl; weight[k] = hy * hx;
                            index[k + 1] = yl * width + xh; weight[k + 1] = hy * lx;
                            index[k + 2] = yh * width + xl; weight[k + 2] = ly * hx;
                            index[k + 3] = yh * width + xh; weight[k + 3] = ly * lx;
                        }
            var plane = x[bi[n]].reshape(channels, height * width);
            var w = torch.tensor(weight, dtype: ScalarType.Float64, device: x.device).to_type(x.dtype);
            var v = (plane.index_select(1, LongTensor(index, x.device)) * w).reshape(channels, p.OutH, p.OutW, gh * gw, 4);
            outputs.Add(p.Max ? v.amax(new long[] { 4 }).amax(new long[] { 3 }) : v.sum(new long[] { 3, 4 }) / samples);
        }
        return outputs.Count == 0 ? torch.zeros(new[] { 0, channels, p.OutH, p.OutW }, dtype: x.dtype, device: x.device) : torch.stack(outputs);
    }

    /// <summary>An integer tensor minus its zero point (scalar, or per slice along <paramref name="axis"/>), as float64.</summary>
    static Tensor Centered(Tensor q, Tensor? zeroPoint, long axis)
    {
        var x = q.to_type(ScalarType.Float64);
        if (zeroPoint is null) return x;
        var zp = zeroPoint.to_type(ScalarType.Float64);
        if (zp.dim() == 1 && zp.shape[0] > 1 && axis >= 0) zp = PerAxis(zp, axis, x.dim());
        return x - zp;
    }

    /// <summary>Real values to the zero point's integer type: round half to even, add the zero point, saturate.</summary>
    static Tensor Requantize(Tensor real, Tensor scale, Tensor? zeroPoint)
    {
        var type = zeroPoint?.dtype ?? ScalarType.Byte;
        var y = (real / scale.to_type(ScalarType.Float64)).round();
        if (zeroPoint is not null) y = y + zeroPoint.to_type(ScalarType.Float64);
        var (lo, hi) = IntegerRange(type);
        return y.clamp(lo, hi).to_type(type);
    }

    static Kernel WindowOp(OnnxNodeContext ctx, params double[] terms)
    {
        bool periodic = ctx.Int("periodic", 1) != 0;
        var dtype = OnnxTensors.ToScalarType((int)ctx.Int("output_datatype", 1), ctx.Describe);
        return One(a => CosineWindow(ElementTypes.ToLongs(In(a, 0, ctx))[0], periodic, dtype, terms));
    }

    static Tensor CosineWindow(long size, bool periodic, ScalarType dtype, params double[] cosineTerms)
    {
        double n = periodic ? size : size - 1;
        var k = torch.arange(size, dtype: ScalarType.Float64);
        var w = torch.zeros(size, dtype: ScalarType.Float64);
        for (int j = 0; j < cosineTerms.Length; j++)
            w = w + (k * (2 * Math.PI * j / n)).cos() * (j % 2 == 0 ? cosineTerms[j] : -cosineTerms[j]);
        return w.to_type(dtype);
    }

    static Tensor PerAxis(Tensor p, long axis, long rank)
    {
        if (p.dim() == 0) return p;
        var shape = Enumerable.Repeat(1L, (int)rank).ToArray();
        shape[axis] = p.shape[0];
        return p.reshape(shape);
    }

    static (double Lo, double Hi) IntegerRange(ScalarType t) => t switch
    {
        ScalarType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        ScalarType.Byte => (0, 255),
        ScalarType.Int16 => (short.MinValue, short.MaxValue),
        ScalarType.Int32 => (int.MinValue, int.MaxValue),
        _ => (double.MinValue, double.MaxValue),
    };

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
