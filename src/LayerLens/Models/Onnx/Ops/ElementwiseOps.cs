using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Models.Onnx.Ops;

public static partial class OnnxOpRegistry
{
    static void RegisterElementwise()
    {
        Unary("Relu", x => F.relu(x));
        Unary("Sigmoid", x => x.sigmoid());
        Unary("Tanh", x => x.tanh());
        Unary("Exp", x => x.exp());
        Unary("Log", x => x.log());
        Unary("Abs", x => x.abs());
        Unary("Neg", x => x.neg());
        Unary("Reciprocal", x => x.reciprocal());
        Unary("Sqrt", x => x.sqrt());
        Unary("Erf", x => x.erf());
        Unary("Floor", x => x.floor());
        Unary("Ceil", x => x.ceil());
        Unary("Sign", x => x.sign());
        Unary("Sin", x => x.sin());
        Unary("Cos", x => x.cos());
        Unary("Round", x => x.round());
        Unary("Softplus", x => F.softplus(x));
        Unary("Softsign", x => x / (x.abs() + 1));
        Unary("Not", x => x.logical_not());
        Unary("HardSwish", x => F.hardswish(x));
        Unary("Mish", x => x * F.softplus(x).tanh());

        Add("LeakyRelu", ctx =>
        {
            double alpha = ctx.Float("alpha", 0.01f);
            return One(a => F.leaky_relu(In(a, 0, ctx), alpha));
        });
        Add("Elu", ctx =>
        {
            double alpha = ctx.Float("alpha", 1f);
            return One(a => { var x = In(a, 0, ctx); return torch.where(x > 0, x, (x.exp() - 1) * alpha); });
        });
        Add("Celu", ctx =>
        {
            double alpha = ctx.Float("alpha", 1f);
            return One(a => { var x = In(a, 0, ctx); return x.clamp_min(0) + ((x / alpha).exp() - 1).clamp_max(0) * alpha; });
        });
        Add("Selu", ctx =>
        {
            double alpha = ctx.Float("alpha", 1.67326319217681884765625f);
            double gamma = ctx.Float("gamma", 1.05070102214813232421875f);
            return One(a => { var x = In(a, 0, ctx); return torch.where(x > 0, x * gamma, (x.exp() - 1) * (alpha * gamma)); });
        });
        Add("HardSigmoid", ctx =>
        {
            double alpha = ctx.Float("alpha", 0.2f), beta = ctx.Float("beta", 0.5f);
            return One(a => (In(a, 0, ctx) * alpha + beta).clamp(0, 1));
        });
        Add("ThresholdedRelu", ctx =>
        {
            double alpha = ctx.Float("alpha", 1f);
            return One(a => { var x = In(a, 0, ctx); return torch.where(x > alpha, x, torch.zeros_like(x)); });
        });
        Add("PRelu", ctx => One(a =>
        {
            var x = In(a, 0, ctx);
            var slope = In(a, 1, ctx);
            return torch.where(x < 0, x * slope, x);
        }));
        Add("Gelu", ctx =>
        {
            var approx = ctx.String("approximate", "none");
            if (approx is not ("none" or "tanh")) throw ctx.Unsupported($"approximate='{approx}'");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                if (approx == "none") return F.gelu(x);
                return x * 0.5 * (((x + x.pow(3) * 0.044715) * Math.Sqrt(2 / Math.PI)).tanh() + 1);
            });
        });
        Add("Clip", ctx =>
        {
            if (ctx.Opset < 11)
            {
                double lo = ctx.Float("min", float.MinValue), hi = ctx.Float("max", float.MaxValue);
                return One(a => In(a, 0, ctx).clamp(lo, hi));
            }
            return One(a =>
            {
                var x = In(a, 0, ctx);
                var lo = Opt(a, 1);
                var hi = Opt(a, 2);
                if (lo is not null) x = torch.maximum(x, lo.to_type(x.dtype));
                if (hi is not null) x = torch.minimum(x, hi.to_type(x.dtype));
                return lo is null && hi is null ? x.alias() : x;
            });
        });

        Binary("Add", (x, y) => x + y);
        Binary("Sub", (x, y) => x - y);
        Binary("Mul", (x, y) => x * y);
        Binary("Div", (x, y) => x.is_floating_point() ? x / y : x.div(y, RoundingMode.trunc));
        Binary("Pow", (x, y) => x.pow(y).to_type(x.dtype));
        Binary("Equal", (x, y) => x.eq(y));
        Binary("Less", (x, y) => x.lt(y));
        Binary("LessOrEqual", (x, y) => x.le(y));
        Binary("Greater", (x, y) => x.gt(y));
        Binary("GreaterOrEqual", (x, y) => x.ge(y));
        Binary("And", (x, y) => x.logical_and(y));
        Binary("Or", (x, y) => x.logical_or(y));
        Binary("Xor", (x, y) => x.logical_xor(y));
        Add("Mod", ctx =>
        {
            bool fmod = ctx.Int("fmod", 0) != 0;
            return One(a => fmod ? In(a, 0, ctx).fmod(In(a, 1, ctx)) : In(a, 0, ctx).remainder(In(a, 1, ctx)));
        });

        Variadic("Sum", (x, y) => x + y, null);
        Variadic("Max", torch.maximum, null);
        Variadic("Min", torch.minimum, null);
        Variadic("Mean", (x, y) => x + y, n => 1.0 / n);

        Add("Where", ctx => One(a => torch.where(In(a, 0, ctx), In(a, 1, ctx), In(a, 2, ctx))));
        Add("Identity", ctx => One(a => In(a, 0, ctx).alias()));
        Add("Cast", ctx =>
        {
            var to = OnnxTensors.ToScalarType((int)ctx.Int("to", 0), ctx.Describe);
            ctx.Ignore("saturate");
            return One(a =>
            {
                var x = In(a, 0, ctx);
                // ONNX casts float to int by truncation toward zero, as libtorch does.
                return x.to_type(to);
            });
        });
        Add("CastLike", ctx =>
        {
            ctx.Ignore("saturate");
            return One(a => In(a, 0, ctx).to_type(In(a, 1, ctx).dtype));
        });
    }

    static void Unary(string op, Func<Tensor, Tensor> f) => Add(op, ctx => One(a => f(In(a, 0, ctx))));

    static void Binary(string op, Func<Tensor, Tensor, Tensor> f) =>
        Add(op, ctx => One(a => f(In(a, 0, ctx), In(a, 1, ctx))));

    static void Variadic(string op, Func<Tensor, Tensor, Tensor> combine, Func<int, double>? scale) =>
        Add(op, ctx => One(a =>
        {
            var items = a.Where(t => t is not null).Cast<Tensor>().ToList();
            if (items.Count == 0) throw ctx.Unsupported("no inputs");
            var acc = items[0].alias();
            for (int i = 1; i < items.Count; i++) acc = combine(acc, items[i]);
            if (scale != null) acc = acc * scale(items.Count);
            // A single input still broadcasts to nothing else; the result needs its own handle.
            return acc;
        }));
}
