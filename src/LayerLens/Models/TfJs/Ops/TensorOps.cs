using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Models.TfJs.Ops;

public static partial class TfJsOpRegistry
{
    static void Reduction(string op, Func<Tensor, long[], bool, Tensor> f) =>
        Add(op, ctx =>
        {
            bool keep = ctx.Bool("keep_dims", false);
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var axes = Longs(In(a, 1, ctx)).Select(v => Axis(v, x.dim())).Distinct().ToArray();
                if (axes.Length == 0) return x.alias();
                return f(x, axes, keep);
            });
        });

    static void RegisterTensorOps()
    {
        Reduction("Mean", (x, ax, k) => x.mean(ax, k));
        Reduction("Sum", (x, ax, k) => x.sum(ax, k));
        Reduction("Max", (x, ax, k) => x.amax(ax, k));
        Reduction("Min", (x, ax, k) => x.amin(ax, k));
        Reduction("Prod", (x, ax, k) =>
        {
            var y = x;
            foreach (var d in ax.OrderByDescending(d => d)) y = y.prod(d, keepdim: k);
            return y;
        });
        Reduction("All", (x, ax, k) => AnyOver(x.logical_not(), ax, k).logical_not());
        Reduction("Any", (x, ax, k) => AnyOver(x, ax, k));

        Add("ConcatV2", ctx => One(a =>
        {
            int n = a.Length - 1;
            var items = Enumerable.Range(0, n).Select(i => In(a, i, ctx)).ToArray();
            long axis = Axis(Long(In(a, n, ctx)), items[0].dim());
            return torch.cat(items, axis);
        }));

        Add("Reshape", ctx => One(a => In(a, 0, ctx).reshape(Longs(In(a, 1, ctx)))));

        Add("Squeeze", ctx =>
        {
            var dims = ctx.Ints("squeeze_dims") ?? ctx.Ints("axis") ?? Array.Empty<long>();
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var shape = x.shape;
                var axes = dims.Length > 0
                    ? dims.Select(d => Axis(d, x.dim())).ToHashSet()
                    : Enumerable.Range(0, shape.Length).Where(i => shape[i] == 1).Select(i => (long)i).ToHashSet();
                foreach (var d in axes)
                    if (shape[d] != 1) throw ctx.Unsupported($"cannot squeeze dimension {d} of size {shape[d]}");
                return x.reshape(shape.Where((_, i) => !axes.Contains(i)).ToArray());
            });
        });

        Add("ExpandDims", ctx => One(a =>
        {
            var x = In(a, 0, ctx);
            long d = Long(In(a, 1, ctx));
            return x.unsqueeze(d < 0 ? d + x.dim() + 1 : d);
        }));

        Add("Transpose", ctx => One(a => In(a, 0, ctx).permute(Longs(In(a, 1, ctx)))));

        Add("Shape", ctx =>
        {
            var type = TypeAttr(ctx, "out_type", "DT_INT32");
            return One(a => { var x = In(a, 0, ctx); return IntTensor(x.shape, x.device, type); });
        });

        Add("Size", ctx => One(a => { var x = In(a, 0, ctx); return IntTensor(new[] { x.numel() }, x.device).reshape(Array.Empty<long>()); }));

        Add("Rank", ctx => One(a => { var x = In(a, 0, ctx); return IntTensor(new[] { x.dim() }, x.device).reshape(Array.Empty<long>()); }));

        Add("Pack", ctx =>
        {
            long axis = ctx.Int("axis", 0);
            return One(a =>
            {
                var items = Enumerable.Range(0, a.Length).Select(i => In(a, i, ctx)).ToArray();
                return torch.stack(items, Axis(axis, items[0].dim() + 1));
            });
        });

        Add("Unpack", ctx =>
        {
            long axis = ctx.Int("axis", 0);
            ctx.OutputCount = (int)ctx.Int("num", 1);
            return a => In(a, 0, ctx).unbind(Axis(axis, In(a, 0, ctx).dim()));
        });

        Add("Split", ctx =>
        {
            int parts = (int)ctx.Int("num_split", 1);
            ctx.OutputCount = parts;
            return a =>
            {
                var x = In(a, 1, ctx);
                long axis = Axis(Long(In(a, 0, ctx)), x.dim());
                if (x.shape[axis] % parts != 0) throw ctx.Unsupported($"dimension {x.shape[axis]} does not split into {parts} equal parts");
                long chunk = x.shape[axis] / parts;
                return Enumerable.Range(0, parts).Select(i => x.narrow(axis, i * chunk, chunk)).ToArray();
            };
        });

        Add("SplitV", ctx =>
        {
            int parts = (int)ctx.Int("num_split", 1);
            ctx.OutputCount = parts;
            return a =>
            {
                var x = In(a, 0, ctx);
                var sizes = Longs(In(a, 1, ctx));
                long axis = Axis(Long(In(a, 2, ctx)), x.dim());
                int unknown = Array.IndexOf(sizes, -1L);
                if (unknown >= 0) sizes[unknown] = x.shape[axis] - sizes.Where(s => s >= 0).Sum();
                if (sizes.Length != parts || sizes.Sum() != x.shape[axis])
                    throw ctx.Unsupported($"size_splits [{string.Join(",", sizes)}] do not add up to dimension {x.shape[axis]}");
                var result = new Tensor[parts];
                long start = 0;
                for (int i = 0; i < parts; i++) { result[i] = x.narrow(axis, start, sizes[i]); start += sizes[i]; }
                return result;
            };
        });

        Add("Slice", ctx => One(a =>
        {
            var x = In(a, 0, ctx);
            var begin = Longs(In(a, 1, ctx));
            var size = Longs(In(a, 2, ctx));
            var y = x;
            for (int d = 0; d < begin.Length; d++)
                y = y.narrow(d, begin[d], size[d] < 0 ? x.shape[d] - begin[d] : size[d]);
            return y;
        }));

        Add("StridedSlice", ctx =>
        {
            var masks = new StridedMasks(ctx.Int("begin_mask", 0), ctx.Int("end_mask", 0), ctx.Int("ellipsis_mask", 0),
                                         ctx.Int("new_axis_mask", 0), ctx.Int("shrink_axis_mask", 0));
            return One(a => StridedSlice(In(a, 0, ctx), Longs(In(a, 1, ctx)), Longs(In(a, 2, ctx)), Longs(In(a, 3, ctx)), masks, ctx));
        });

        Add("GatherV2", ctx =>
        {
            long batchDims = ctx.Int("batch_dims", 0);
            if (batchDims != 0) throw ctx.Unsupported($"batch_dims={batchDims}");
            return One(a =>
            {
                var p = In(a, 0, ctx);
                var idx = In(a, 1, ctx);
                long axis = Axis(a.Length > 2 ? Long(In(a, 2, ctx)) : 0, p.dim());
                var flat = p.index_select(axis, idx.flatten().to_type(ScalarType.Int64));
                var shape = p.shape.Take((int)axis).Concat(idx.shape).Concat(p.shape.Skip((int)axis + 1)).ToArray();
                return flat.reshape(shape);
            });
        });
        Factories["Gather"] = Factories["GatherV2"];

        Add("GatherNd", ctx => One(a =>
        {
            var p = In(a, 0, ctx);
            var idx = In(a, 1, ctx).to_type(ScalarType.Int64);
            long k = idx.shape[^1];
            if (k > p.dim()) throw ctx.Unsupported($"index depth {k} exceeds params rank {p.dim()}");
            var strides = new long[k];
            long s = 1;
            for (long i = k - 1; i >= 0; i--) { strides[i] = s; s *= p.shape[i]; }
            using var st = torch.tensor(strides, device: p.device);
            var linear = (idx * st).sum(-1);
            var rest = p.shape.Skip((int)k).ToArray();
            var flatParams = p.reshape(new[] { s }.Concat(rest).ToArray());
            var picked = flatParams.index_select(0, linear.flatten());
            return picked.reshape(idx.shape.Take(idx.shape.Length - 1).Concat(rest).ToArray());
        }));

        Add("ArgMax", ctx =>
        {
            var type = TypeAttr(ctx, "output_type", "DT_INT64");
            return One(a => { var x = In(a, 0, ctx); return x.argmax(Axis(Long(In(a, 1, ctx)), x.dim())).to_type(type); });
        });
        Add("ArgMin", ctx =>
        {
            var type = TypeAttr(ctx, "output_type", "DT_INT64");
            return One(a => { var x = In(a, 0, ctx); return x.argmin(Axis(Long(In(a, 1, ctx)), x.dim())).to_type(type); });
        });

        Add("TopKV2", ctx =>
        {
            bool sorted = ctx.Bool("sorted", true);
            ctx.OutputCount = 2;
            return a =>
            {
                var x = In(a, 0, ctx);
                int k = (int)Long(In(a, 1, ctx));
                var (values, indices) = x.topk(k, -1, largest: true, sorted: sorted);
                return new[] { values, indices.to_type(ScalarType.Int32) };
            };
        });

        Add("SparseToDense", ctx => One(a =>
        {
            var indices = In(a, 0, ctx).to_type(ScalarType.Int64);
            var shape = Longs(In(a, 1, ctx));
            var values = In(a, 2, ctx);
            var dense = Broadcast(In(a, 3, ctx).to_type(values.dtype), shape).flatten();
            if (indices.dim() < 2) indices = indices.reshape(-1, Math.Max(1, shape.Length));
            var strides = new long[shape.Length];
            long s = 1;
            for (int i = shape.Length - 1; i >= 0; i--) { strides[i] = s; s *= shape[i]; }
            using var st = torch.tensor(strides, device: values.device);
            var linear = (indices * st).sum(-1);
            var src = values.numel() == 1 ? values.reshape(1).expand(linear.shape[0]) : values.flatten();
            return dense.scatter(0, linear, src).reshape(shape);
        }));

        Add("Pad", ctx => One(a => PadConstant(In(a, 0, ctx), In(a, 1, ctx), 0)));
        Add("PadV2", ctx => One(a => PadConstant(In(a, 0, ctx), In(a, 1, ctx), ElementTypes.ToDoubles(In(a, 2, ctx))[0])));

        Add("MirrorPad", ctx =>
        {
            var mode = ctx.String("mode", "REFLECT");
            if (mode is not ("REFLECT" or "SYMMETRIC")) throw ctx.Unsupported($"mode '{mode}'");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var pads = Longs(In(a, 1, ctx));
                var y = x;
                for (int d = 0; d < x.dim(); d++)
                {
                    long before = pads[2 * d], after = pads[2 * d + 1];
                    if (before == 0 && after == 0) continue;
                    long n = x.shape[d];
                    long shift = mode == "REFLECT" ? 1 : 0;
                    var idx = new long[n + before + after];
                    for (long i = 0; i < idx.Length; i++)
                    {
                        long j = i - before;
                        if (j < 0) j = -j - 1 + shift;
                        else if (j >= n) j = 2 * n - j - 1 - shift;
                        if (j < 0 || j >= n) throw ctx.Unsupported($"padding {before},{after} larger than dimension {n}");
                        idx[i] = j;
                    }
                    using var it = torch.tensor(idx, device: x.device);
                    y = y.index_select(d, it);
                }
                return y;
            });
        });

        Add("Fill", ctx => One(a =>
        {
            return Broadcast(In(a, 1, ctx), Longs(In(a, 0, ctx)));
        }));
        Add("ZerosLike", ctx => One(a => torch.zeros_like(In(a, 0, ctx))));
        Add("OnesLike", ctx => One(a => torch.ones_like(In(a, 0, ctx))));
        Add("Tile", ctx => One(a => In(a, 0, ctx).repeat(Longs(In(a, 1, ctx)))));
    }

    static Tensor Broadcast(Tensor scalar, long[] shape) =>
        scalar.reshape(Array.Empty<long>()).expand(shape).contiguous();

    static Tensor AnyOver(Tensor x, long[] axes, bool keep)
    {
        var y = x;
        foreach (var d in axes.OrderByDescending(d => d)) y = y.any(d, keep);
        return y;
    }

    static Tensor PadConstant(Tensor x, Tensor paddings, double value)
    {
        var p = Longs(paddings);
        long rank = x.dim();
        var torchPads = new long[2 * rank];
        for (long d = 0; d < rank; d++)
        {
            torchPads[2 * (rank - 1 - d)] = p[2 * d];
            torchPads[2 * (rank - 1 - d) + 1] = p[2 * d + 1];
        }
        return F.pad(x, torchPads, PaddingModes.Constant, value);
    }

    readonly record struct StridedMasks(long Begin, long End, long Ellipsis, long NewAxis, long Shrink);

    /// <summary>TensorFlow's strided slice with all five masks, as a chain of narrow/select/index_select.</summary>
    static Tensor StridedSlice(Tensor x, long[] begin, long[] end, long[] strides, StridedMasks m, TfJsNodeContext ctx)
    {
        int n = begin.Length;
        int realEntries = Enumerable.Range(0, n).Count(i => (m.NewAxis >> i & 1) == 0 && (m.Ellipsis >> i & 1) == 0);
        var y = x;
        long dim = 0;
        bool sawEllipsis = false;
        for (int i = 0; i < n; i++)
        {
            if ((m.Ellipsis >> i & 1) != 0)
            {
                if (sawEllipsis) throw ctx.Unsupported("more than one ellipsis");
                sawEllipsis = true;
                dim += x.dim() - realEntries;
                continue;
            }
            if ((m.NewAxis >> i & 1) != 0)
            {
                y = y.unsqueeze(dim);
                dim++;
                continue;
            }
            long size = y.shape[dim];
            long stride = strides[i];
            if (stride == 0) throw ctx.Unsupported("stride 0");
            if ((m.Shrink >> i & 1) != 0)
            {
                long idx = begin[i] < 0 ? begin[i] + size : begin[i];
                if (idx < 0 || idx >= size) throw ctx.Unsupported($"index {begin[i]} out of range for dimension of size {size}");
                y = y.select(dim, idx);
                continue;
            }
            long start, stop;
            if (stride > 0)
            {
                start = (m.Begin >> i & 1) != 0 ? 0 : Math.Clamp(begin[i] < 0 ? begin[i] + size : begin[i], 0, size);
                stop = (m.End >> i & 1) != 0 ? size : Math.Clamp(end[i] < 0 ? end[i] + size : end[i], 0, size);
                y = stop > start ? y.slice(dim, start, stop, stride) : y.narrow(dim, 0, 0);
            }
            else
            {
                start = (m.Begin >> i & 1) != 0 ? size - 1 : Math.Clamp(begin[i] < 0 ? begin[i] + size : begin[i], -1, size - 1);
                stop = (m.End >> i & 1) != 0 ? -1 : Math.Clamp(end[i] < 0 ? end[i] + size : end[i], -1, size - 1);
                var idx = new List<long>();
                for (long k = start; k > stop; k += stride) idx.Add(k);
                using var it = torch.tensor(idx.ToArray(), device: y.device);
                y = y.index_select(dim, it);
            }
            dim++;
        }
        return y;
    }
}
