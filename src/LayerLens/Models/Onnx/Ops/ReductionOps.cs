using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Models.Onnx.Ops;

public static partial class OnnxOpRegistry
{
    static void RegisterReductions()
    {
        Reduce("ReduceSum", 13, (x, d, k) => x.sum(d, k));
        Reduce("ReduceMean", 18, (x, d, k) => x.mean(d, k));
        Reduce("ReduceMax", 18, (x, d, k) => x.amax(d, k));
        Reduce("ReduceMin", 18, (x, d, k) => x.amin(d, k));
        Reduce("ReduceProd", 18, (x, d, k) =>
        {
            foreach (var dim in d.OrderByDescending(v => v)) x = x.prod(dim, keepdim: true);
            return k ? x : x.squeeze_dims(d);
        });
        Reduce("ReduceL1", 18, (x, d, k) => x.abs().sum(d, k));
        Reduce("ReduceL2", 18, (x, d, k) => x.pow(2).sum(d, k).sqrt());
        Reduce("ReduceSumSquare", 18, (x, d, k) => x.pow(2).sum(d, k));
        Reduce("ReduceLogSum", 18, (x, d, k) => x.sum(d, k).log());
        Reduce("ReduceLogSumExp", 18, (x, d, k) =>
        {
            foreach (var dim in d.OrderByDescending(v => v)) x = x.logsumexp(dim, keepdim: true);
            return k ? x : x.squeeze_dims(d);
        });
    }

    /// <summary>Registers a reduction whose axes move from an attribute to an input at <paramref name="axesInputOpset"/>.</summary>
    static void Reduce(string op, int axesInputOpset, Func<Tensor, long[], bool, Tensor> f) =>
        Add(op, ctx =>
        {
            bool keep = ctx.Int("keepdims", 1) != 0;
            bool noop = ctx.Int("noop_with_empty_axes", 0) != 0;
            var attrAxes = ctx.Opset < axesInputOpset ? ctx.Ints("axes") : null;
            return One(a =>
            {
                var x = In(a, 0, ctx);
                long[]? axes = attrAxes ?? (ctx.Opset >= axesInputOpset && Opt(a, 1) is { } t ? ElementTypes.ToLongs(t) : null);
                if (axes == null || axes.Length == 0)
                {
                    if (noop) return x.alias();
                    axes = Enumerable.Range(0, (int)x.dim()).Select(i => (long)i).ToArray();
                }
                if (x.dim() == 0) return x.alias();
                var dims = Axes(axes, x.dim()).Distinct().OrderBy(v => v).ToArray();
                return f(x, dims, keep);
            });
        });
}

internal static class TensorExtensions
{
    /// <summary>Removes the given size-1 dimensions.</summary>
    public static Tensor squeeze_dims(this Tensor x, long[] dims)
    {
        var shape = x.shape.Where((_, i) => !dims.Contains(i)).ToArray();
        return x.reshape(shape);
    }
}
