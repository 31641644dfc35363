using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Models.Onnx.Ops;

public static partial class OnnxOpRegistry
{
    static Tensor LongTensor(long[] values, Device device) =>
        torch.tensor(values, dtype: ScalarType.Int64, device: device);

    static void RegisterTensorOps()
    {
        Add("Concat", ctx =>
        {
            long axis = ctx.Int("axis", 0);
            return One(a =>
            {
                var items = a.Where(t => t is not null).Cast<Tensor>().ToList();
                long rank = items[0].dim();
                // Empty tensors take part only through their shape.
                var nonEmpty = items.Where(t => t.numel() > 0 || items.All(u => u.numel() == 0)).ToArray();
                return torch.cat(nonEmpty.Length > 0 ? nonEmpty : items.ToArray(), Axis(axis, rank));
            });
        });

        Add("Split", ctx =>
        {
            long axis = ctx.Int("axis", 0);
            var splitAttr = ctx.Opset < 13 ? ctx.Ints("split") : null;
            long numOutputs = ctx.Int("num_outputs", 0);
            int outputs = ctx.OutputCount;
            return a =>
            {
                var x = In(a, 0, ctx);
                long ax = Axis(axis, x.dim());
                long dimSize = x.shape[ax];
                long[] sizes;
                if (splitAttr != null) sizes = splitAttr;
                else if (ctx.Opset >= 13 && Opt(a, 1) is { } s) sizes = ElementTypes.ToLongs(s);
                else
                {
                    long parts = numOutputs > 0 ? numOutputs : outputs;
                    long chunk = (dimSize + parts - 1) / parts;
                    sizes = Enumerable.Range(0, (int)parts).Select(i => Math.Max(0, Math.Min(chunk, dimSize - i * chunk))).ToArray();
                }
                var result = new Tensor[sizes.Length];
                long start = 0;
                for (int i = 0; i < sizes.Length; i++)
                {
                    result[i] = x.narrow(ax, start, sizes[i]);
                    start += sizes[i];
                }
                return result;
            };
        });

        Add("Slice", ctx =>
        {
            long[]? aStarts = null, aEnds = null, aAxes = null;
            if (ctx.Opset < 10)
            {
                aStarts = ctx.Ints("starts");
                aEnds = ctx.Ints("ends");
                aAxes = ctx.Ints("axes");
            }
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long[] starts = aStarts ?? ElementTypes.ToLongs(In(a, 1, ctx));
                long[] ends = aEnds ?? ElementTypes.ToLongs(In(a, 2, ctx));
                long[] axes = aAxes ?? (Opt(a, 3) is { } ax ? ElementTypes.ToLongs(ax) : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray());
                long[] steps = ctx.Opset >= 10 && Opt(a, 4) is { } st ? ElementTypes.ToLongs(st) : Enumerable.Repeat(1L, starts.Length).ToArray();
                var y = x;
                for (int i = 0; i < starts.Length; i++)
                {
                    long axis = Axis(axes[i], x.dim());
                    long dim = x.shape[axis];
                    long step = steps[i];
                    if (step == 0) throw ctx.Unsupported("step 0");
                    long start = starts[i], end = ends[i];
                    if (start < 0) start += dim;
                    if (end < 0) end += dim;
                    if (step > 0)
                    {
                        start = Math.Clamp(start, 0, dim);
                        end = Math.Clamp(end, 0, dim);
                        if (end <= start) { y = y.narrow(axis, 0, 0); continue; }
                        y = step == 1 ? y.narrow(axis, start, end - start) : y.slice(axis, start, end, step);
                    }
                    else
                    {
                        start = Math.Clamp(start, 0, dim - 1);
                        end = Math.Clamp(end, -1, dim - 1);
                        var idx = new List<long>();
                        for (long k = start; k > end; k += step) idx.Add(k);
                        y = y.index_select(axis, LongTensor(idx.ToArray(), x.device));
                    }
                }
                return y;
            });
        });

        Add("Gather", ctx =>
        {
            long axis = ctx.Int("axis", 0);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var idx = In(a, 1, ctx).to_type(ScalarType.Int64);
                long ax = Axis(axis, x.dim());
                idx = torch.where(idx < 0, idx + x.shape[ax], idx);
                var picked = x.index_select(ax, idx.flatten());
                var shape = x.shape.Take((int)ax).Concat(idx.shape).Concat(x.shape.Skip((int)ax + 1)).ToArray();
                return picked.reshape(shape);
            });
        });
        Add("GatherElements", ctx =>
        {
            long axis = ctx.Int("axis", 0);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var idx = In(a, 1, ctx).to_type(ScalarType.Int64);
                long ax = Axis(axis, x.dim());
                idx = torch.where(idx < 0, idx + x.shape[ax], idx);
                return x.gather(ax, idx);
            });
        });
        Add("ScatterND", ctx =>
        {
            var reduction = ctx.String("reduction", "none");
            if (reduction is not ("none" or "add" or "mul" or "max" or "min")) throw ctx.Unsupported($"reduction='{reduction}'");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var idx = In(a, 1, ctx).to_type(ScalarType.Int64);
                var upd = In(a, 2, ctx);
                long k = idx.shape[^1];
                var flatIdx = idx.reshape(-1, k);
                flatIdx = torch.where(flatIdx < 0, flatIdx + LongTensor(x.shape.Take((int)k).ToArray(), x.device), flatIdx);
                var parts = Enumerable.Range(0, (int)k).Select(i => flatIdx.select(1, i)).ToArray();
                var updShape = new long[] { flatIdx.shape[0] }.Concat(x.shape.Skip((int)k)).ToArray();
                var updates = upd.reshape(updShape);
                if (reduction is "none" or "add")
                    return x.clone().index_put_(updates, parts, accumulate: reduction == "add");
                // Multiplicative and min/max reductions apply the updates one after another, so repeated
                // indices combine as the specification's loop does.
                var y = x.clone();
                for (long u = 0; u < updShape[0]; u++)
                {
                    var at = parts.Select(p => p.narrow(0, u, 1)).ToArray();
                    var current = y.index(at);
                    var update = updates.narrow(0, u, 1);
                    var combined = reduction switch
                    {
                        "mul" => current * update,
                        "max" => torch.maximum(current, update),
                        _ => torch.minimum(current, update),
                    };
                    y.index_put_(combined, at);
                }
                return y;
            });
        });

        Add("Reshape", ctx =>
        {
            bool allowZero = ctx.Int("allowzero", 0) != 0;
            long[]? attrShape = ctx.Opset < 5 ? ctx.Ints("shape") : null;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var shape = attrShape ?? ElementTypes.ToLongs(In(a, 1, ctx));
                var target = shape.ToArray();
                if (!allowZero)
                    for (int i = 0; i < target.Length; i++)
                        if (target[i] == 0) target[i] = x.shape[i];
                return x.reshape(target);
            });
        });
        Add("Flatten", ctx =>
        {
            long axis = ctx.Int("axis", 1);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long ax = Axis(axis, x.dim());
                long rows = x.shape.Take((int)ax).Aggregate(1L, (p, v) => p * v);
                long cols = x.shape.Skip((int)ax).Aggregate(1L, (p, v) => p * v);
                return x.reshape(rows, cols);
            });
        });
        Add("Transpose", ctx =>
        {
            var perm = ctx.Ints("perm");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var p = perm ?? Enumerable.Range(0, (int)x.dim()).Reverse().Select(i => (long)i).ToArray();
                return x.permute(p);
            });
        });
        Add("Squeeze", ctx =>
        {
            var attrAxes = ctx.Opset < 13 ? ctx.Ints("axes") : null;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long[]? axes = attrAxes ?? (ctx.Opset >= 13 && Opt(a, 1) is { } t ? ElementTypes.ToLongs(t) : null);
                var keep = axes == null
                    ? x.shape.Where(d => d != 1).ToArray()
                    : x.shape.Where((d, i) => !Axes(axes, x.dim()).Contains(i)).ToArray();
                return x.reshape(keep);
            });
        });
        Add("Unsqueeze", ctx =>
        {
            var attrAxes = ctx.Opset < 13 ? ctx.Ints("axes") : null;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var axes = attrAxes ?? ElementTypes.ToLongs(In(a, 1, ctx));
                long rank = x.dim() + axes.Length;
                var norm = new HashSet<long>(Axes(axes, rank));
                var shape = new long[rank];
                int src = 0;
                for (int i = 0; i < rank; i++) shape[i] = norm.Contains(i) ? 1 : x.shape[src++];
                return x.reshape(shape);
            });
        });
        Add("Shape", ctx =>
        {
            long start = ctx.Int("start", 0);
            long? end = ctx.Has("end") ? ctx.Int("end", 0) : null;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long rank = x.dim();
                long s = Math.Clamp(start < 0 ? start + rank : start, 0, rank);
                long e = Math.Clamp(end is { } v ? (v < 0 ? v + rank : v) : rank, 0, rank);
                var dims = x.shape.Skip((int)s).Take((int)Math.Max(0, e - s)).ToArray();
                return torch.tensor(dims, dtype: ScalarType.Int64);
            });
        });
        Add("Size", ctx => One(a => torch.tensor(In(a, 0, ctx).numel(), dtype: ScalarType.Int64)));
        Add("Constant", ctx =>
        {
            Tensor? value = ctx.TensorAttr("value");
            if (value is null && ctx.Has("value_float")) value = torch.tensor(ctx.Float("value_float", 0));
            if (value is null && ctx.Has("value_floats")) value = torch.tensor(ctx.Floats("value_floats")!);
            if (value is null && ctx.Has("value_int")) value = torch.tensor(ctx.Int("value_int", 0), dtype: ScalarType.Int64);
            if (value is null && ctx.Has("value_ints")) value = torch.tensor(ctx.Ints("value_ints")!, dtype: ScalarType.Int64);
            if (value is null) throw ctx.Unsupported("only tensor, float(s) and int(s) values are supported");
            var v = value;
            return One(_ => v.clone());
        });
        Add("ConstantOfShape", ctx =>
        {
            var value = ctx.TensorAttr("value");
            var dtype = value?.dtype ?? ScalarType.Float32;
            var fill = value is null ? 0.0 : ElementTypes.ToDoubles(value)[0];
            return One(a =>
            {
                var shape = ElementTypes.ToLongs(In(a, 0, ctx));
                return dtype == ScalarType.Bool ? torch.full(shape, fill != 0, dtype: dtype) : torch.full(shape, fill, dtype: dtype);
            });
        });

        Add("Pad", ctx =>
        {
            var mode = ctx.String("mode", "constant");
            var attrPads = ctx.Opset < 11 ? ctx.Ints("pads") ?? ctx.Ints("paddings") : null;
            double attrValue = ctx.Float("value", 0f);
            if (mode is not ("constant" or "reflect" or "edge" or "wrap")) throw ctx.Unsupported($"mode='{mode}'");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long rank = x.dim();
                var pads = attrPads ?? ElementTypes.ToLongs(In(a, 1, ctx));
                double value = attrPads != null ? attrValue
                    : Opt(a, 2) is { } cv && cv.numel() > 0 ? ElementTypes.ToDoubles(cv)[0] : 0.0;
                long[] axes = Opt(a, 3) is { } ax ? Axes(ElementTypes.ToLongs(ax), rank) : Enumerable.Range(0, (int)rank).Select(i => (long)i).ToArray();
                var begin = new long[rank];
                var end = new long[rank];
                for (int i = 0; i < axes.Length; i++) { begin[axes[i]] = pads[i]; end[axes[i]] = pads[i + axes.Length]; }
                if (mode == "constant") return F.pad(x, TorchPad(begin, end), PaddingModes.Constant, value);
                var y = x;
                for (int d = 0; d < rank; d++)
                {
                    if (begin[d] == 0 && end[d] == 0) continue;
                    long n = y.shape[d];
                    var idx = new long[n + begin[d] + end[d]];
                    for (long i = 0; i < idx.Length; i++)
                    {
                        long src = i - begin[d];
                        idx[i] = mode switch
                        {
                            "edge" => Math.Clamp(src, 0, n - 1),
                            "wrap" => ((src % n) + n) % n,
                            _ => Reflect(src, n),
                        };
                    }
                    y = y.index_select(d, LongTensor(idx, x.device));
                }
                return y;
            });
        });

        Add("Expand", ctx => One(a =>
        {
            var x = In(a, 0, ctx);
            var shape = ElementTypes.ToLongs(In(a, 1, ctx));
            int rank = Math.Max(shape.Length, (int)x.dim());
            var target = new long[rank];
            for (int i = 0; i < rank; i++)
            {
                long xs = i - (rank - x.dim()) >= 0 ? x.shape[i - (rank - x.dim())] : 1;
                long ts = i - (rank - shape.Length) >= 0 ? shape[i - (rank - shape.Length)] : 1;
                target[i] = xs == 1 ? ts : xs;
            }
            return x.expand(target);
        }));
        Add("Tile", ctx => One(a => In(a, 0, ctx).repeat(ElementTypes.ToLongs(In(a, 1, ctx)))));
        Add("Range", ctx => One(a =>
        {
            var start = In(a, 0, ctx);
            var dtype = start.dtype;
            var s = ElementTypes.ToDoubles(start)[0];
            var l = ElementTypes.ToDoubles(In(a, 1, ctx))[0];
            var d = ElementTypes.ToDoubles(In(a, 2, ctx))[0];
            long n = Math.Max(0, (long)Math.Ceiling((l - s) / d));
            return (torch.arange(n, dtype: ScalarType.Float64) * d + s).to_type(dtype);
        }));
        Add("TopK", ctx =>
        {
            long axis = ctx.Int("axis", -1);
            bool largest = ctx.Int("largest", 1) != 0;
            ctx.Ignore("sorted");
            long attrK = ctx.Opset < 10 ? ctx.Int("k", 0) : -1;
            return a =>
            {
                var x = In(a, 0, ctx);
                long k = attrK >= 0 ? attrK : ElementTypes.ToLongs(In(a, 1, ctx))[0];
                var (values, indices) = x.topk((int)k, (int)Axis(axis, x.dim()), largest, true);
                return new[] { values, indices };
            };
        });
        Add("ArgMax", ctx => ArgReduce(ctx, (x, d, k) => x.argmax(d, k)));
        Add("ArgMin", ctx => ArgReduce(ctx, (x, d, k) => x.argmin(d, k)));

        Add("Resize", ctx => ResizeKernel(ctx, upsample: false));
        Add("Upsample", ctx => ResizeKernel(ctx, upsample: true));
    }

    static long Reflect(long i, long n)
    {
        if (n == 1) return 0;
        long period = 2 * (n - 1);
        long m = ((i % period) + period) % period;
        return m < n ? m : period - m;
    }

    static Kernel ArgReduce(OnnxNodeContext ctx, Func<Tensor, long, bool, Tensor> f)
    {
        long axis = ctx.Int("axis", 0);
        bool keep = ctx.Int("keepdims", 1) != 0;
        bool last = ctx.Int("select_last_index", 0) != 0;
        return One(a =>
        {
            var x = In(a, 0, ctx);
            long ax = Axis(axis, x.dim());
            if (!last) return f(x, ax, keep);
            var flipped = f(x.flip(ax), ax, keep);
            return (x.shape[ax] - 1) - flipped;
        });
    }
}
