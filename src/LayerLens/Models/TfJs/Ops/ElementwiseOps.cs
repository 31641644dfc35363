using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Models.TfJs.Ops;

public static partial class TfJsOpRegistry
{
    static void Binary(string op, Func<Tensor, Tensor, Tensor> f) =>
        Add(op, ctx =>
        {
            if (ctx.InputCount != 2) throw ctx.Unsupported($"expects 2 inputs, has {ctx.InputCount}");
            return One(a => f(In(a, 0, ctx), In(a, 1, ctx)));
        });

    static void Unary(string op, Func<Tensor, Tensor> f) =>
        Add(op, ctx => One(a => f(In(a, 0, ctx))));

    static void RegisterElementwise()
    {
        Binary("Add", (x, y) => x + y);
        Binary("AddV2", (x, y) => x + y);
        Binary("BiasAdd", (x, y) => x + y);
        Binary("Sub", (x, y) => x - y);
        Binary("Mul", (x, y) => x * y);
        Binary("RealDiv", (x, y) => x / y);
        Binary("Div", (x, y) => x.is_floating_point() ? x / y : x.div(y, RoundingMode.trunc));
        Binary("DivNoNan", (x, y) => torch.where(y.eq(0), torch.zeros_like(x), x / y));
        Binary("FloorDiv", (x, y) => x.div(y, RoundingMode.floor));
        Binary("FloorMod", (x, y) => x.remainder(y));
        Binary("Maximum", torch.maximum);
        Binary("Minimum", torch.minimum);
        Binary("Pow", (x, y) => x.pow(y));
        Binary("SquaredDifference", (x, y) => { var d = x - y; return d * d; });
        Binary("Equal", (x, y) => x.eq(y));
        Binary("NotEqual", (x, y) => x.ne(y));
        Binary("Greater", (x, y) => x.gt(y));
        Binary("GreaterEqual", (x, y) => x.ge(y));
        Binary("Less", (x, y) => x.lt(y));
        Binary("LessEqual", (x, y) => x.le(y));
        Binary("LogicalAnd", (x, y) => x.logical_and(y));
        Binary("LogicalOr", (x, y) => x.logical_or(y));
        Binary("Prelu", (x, alpha) => F.relu(x) + alpha * torch.minimum(x, torch.zeros_like(x)));

        Add("AddN", ctx => One(a =>
        {
            var sum = In(a, 0, ctx);
            for (int i = 1; i < a.Length; i++) sum = sum + In(a, i, ctx);
            return sum;
        }));

        Unary("Relu", x => F.relu(x));
        Unary("Relu6", x => x.clamp(0, 6));
        Unary("Elu", x => F.elu(x, 1.0));
        Unary("Selu", x => F.selu(x));
        Unary("Sigmoid", x => x.sigmoid());
        Unary("Tanh", x => x.tanh());
        Unary("Softplus", x => F.softplus(x));
        Unary("Sqrt", x => x.sqrt());
        Unary("Rsqrt", x => x.rsqrt());
        Unary("Square", x => x * x);
        Unary("Exp", x => x.exp());
        Unary("Log", x => x.log());
        Unary("Neg", x => x.neg());
        Unary("Abs", x => x.abs());
        Unary("Floor", x => x.floor());
        Unary("Ceil", x => x.ceil());
        Unary("Reciprocal", x => x.reciprocal());
        Unary("LogicalNot", x => x.logical_not());
        Unary("Sign", x => x.sign());
        Unary("Identity", x => x);
        Unary("StopGradient", x => x.detach());
        Add("Softmax", ctx => One(a => In(a, 0, ctx).softmax(-1)));
        Add("LogSoftmax", ctx => One(a => In(a, 0, ctx).log_softmax(-1)));
        Add("LeakyRelu", ctx =>
        {
            double alpha = ctx.Float("alpha", 0.2f);
            return One(a => F.leaky_relu(In(a, 0, ctx), alpha));
        });
        Add("Cast", ctx =>
        {
            var to = TypeAttr(ctx, "DstT", "DT_FLOAT");
            return One(a => In(a, 0, ctx).to_type(to));
        });
        Add("Select", ctx => One(a => torch.where(In(a, 0, ctx), In(a, 1, ctx), In(a, 2, ctx))));
        Add("SelectV2", ctx => One(a => torch.where(In(a, 0, ctx), In(a, 1, ctx), In(a, 2, ctx))));
    }
}
