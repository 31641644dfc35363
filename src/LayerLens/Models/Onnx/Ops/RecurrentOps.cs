using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Models.Onnx.Ops;

/// <summary>
/// RNN, GRU and LSTM, unrolled step by step with torch ops (so they stay differentiable). Batch entries past
/// their sequence_lens keep their state and emit zeros, which gives the specification's behaviour in both
/// directions: a reverse pass simply starts changing state at each sequence's last valid step.
/// </summary>
public static partial class OnnxOpRegistry
{
    static void RegisterRecurrent()
    {
        Add("RNN", ctx => Recurrent(ctx, RecurrentKind.Rnn));
        Add("GRU", ctx => Recurrent(ctx, RecurrentKind.Gru));
        Add("LSTM", ctx => Recurrent(ctx, RecurrentKind.Lstm));
    }

    enum RecurrentKind { Rnn, Gru, Lstm }

    static Kernel Recurrent(OnnxNodeContext ctx, RecurrentKind kind)
    {
        long hidden = ctx.Int("hidden_size", 0);
        var direction = ctx.String("direction", "forward");
        bool batchFirst = ctx.Int("layout", 0) != 0;
        float? clip = ctx.Has("clip") ? ctx.Float("clip", 0f) : null;
        bool linearBeforeReset = kind == RecurrentKind.Gru && ctx.Int("linear_before_reset", 0) != 0;
        if (kind == RecurrentKind.Lstm && ctx.Int("input_forget", 0) != 0) throw ctx.Unsupported("input_forget=1");
        if (ctx.Floats("activation_alpha") != null || ctx.Floats("activation_beta") != null)
            throw ctx.Unsupported("activation_alpha/activation_beta");
        if (direction is not ("forward" or "reverse" or "bidirectional")) throw ctx.Unsupported($"direction='{direction}'");
        int dirs = direction == "bidirectional" ? 2 : 1;
        int perDirection = kind switch { RecurrentKind.Rnn => 1, RecurrentKind.Gru => 2, _ => 3 };
        var names = ctx.Strings("activations") ?? Enumerable.Repeat(kind switch
        {
            RecurrentKind.Rnn => new[] { "Tanh" },
            RecurrentKind.Gru => new[] { "Sigmoid", "Tanh" },
            _ => new[] { "Sigmoid", "Tanh", "Tanh" },
        }, dirs).SelectMany(x => x).ToArray();
        if (names.Length != perDirection * dirs) throw ctx.Unsupported($"{names.Length} activations for {dirs} direction(s)");
        var acts = names.Select(n => ActivationFor(n, ctx)).ToArray();
        int gates = kind switch { RecurrentKind.Rnn => 1, RecurrentKind.Gru => 3, _ => 4 };

        return a =>
        {
            var x = In(a, 0, ctx);
            if (batchFirst) x = x.transpose(0, 1);
            var W = In(a, 1, ctx);
            var R = In(a, 2, ctx);
            long h = hidden > 0 ? hidden : R.shape[^1];
            var B = Opt(a, 3);
            var lens = Opt(a, 4) is { } sl ? sl.to_type(ScalarType.Int64) : null;
            var h0 = Opt(a, 5);
            var c0 = Opt(a, 6);
            var P = Opt(a, 7);
            if (batchFirst) { h0 = h0?.transpose(0, 1); c0 = c0?.transpose(0, 1); }
            long steps = x.shape[0], batch = x.shape[1];

            var ys = new List<Tensor>();
            var hs = new List<Tensor>();
            var cs = new List<Tensor>();
            for (int d = 0; d < dirs; d++)
            {
                bool reverse = direction == "reverse" || d == 1;
                var w = W[d];
                var r = R[d];
                var wb = B is null ? null : B[d].narrow(0, 0, gates * h);
                var rb = B is null ? null : B[d].narrow(0, gates * h, gates * h);
                var f = acts.Skip(d * perDirection).Take(perDirection).ToArray();
                var xw = x.matmul(w.t());
                if (wb is not null) xw = xw + wb;
                var state = h0 is null ? torch.zeros(new[] { batch, h }, dtype: x.dtype, device: x.device) : h0[d];
                var cell = kind != RecurrentKind.Lstm ? null
                    : c0 is null ? torch.zeros(new[] { batch, h }, dtype: x.dtype, device: x.device) : c0[d];
                var peep = P?[d];
                var outs = new Tensor[steps];
                for (long i = 0; i < steps; i++)
                {
                    long t = reverse ? steps - 1 - i : i;
                    var pre = xw[t];
                    Tensor next;
                    Tensor? nextCell = null;
                    switch (kind)
                    {
                        case RecurrentKind.Rnn:
                        {
                            var z = pre + state.matmul(r.t());
                            if (rb is not null) z = z + rb;
                            next = f[0](Clip(z, clip));
                            break;
                        }
                        case RecurrentKind.Gru:
                        {
                            // Gate order z, r, h.
                            Tensor Part(Tensor v, int g) => v.narrow(-1, g * h, h);
                            var rz = state.matmul(Part(r.t(), 0));
                            var rr = state.matmul(Part(r.t(), 1));
                            if (rb is not null) { rz = rz + Part(rb, 0); rr = rr + Part(rb, 1); }
                            var zg = f[0](Clip(Part(pre, 0) + rz, clip));
                            var rg = f[0](Clip(Part(pre, 1) + rr, clip));
                            Tensor candidate;
                            if (linearBeforeReset)
                            {
                                var rh = state.matmul(Part(r.t(), 2));
                                if (rb is not null) rh = rh + Part(rb, 2);
                                candidate = Part(pre, 2) + rg * rh;
                            }
                            else
                            {
                                candidate = Part(pre, 2) + (rg * state).matmul(Part(r.t(), 2));
                                if (rb is not null) candidate = candidate + Part(rb, 2);
                            }
                            var hh = f[1](Clip(candidate, clip));
                            next = (1 - zg) * hh + zg * state;
                            break;
                        }
                        default:
                        {
                            // Gate order i, o, f, c; peepholes P = [Pi, Po, Pf].
                            var z = pre + state.matmul(r.t());
                            if (rb is not null) z = z + rb;
                            Tensor Part(Tensor v, int g) => v.narrow(-1, g * h, h);
                            var ig = Part(z, 0);
                            var og = Part(z, 1);
                            var fg = Part(z, 2);
                            if (peep is not null) { ig = ig + Part(peep, 0) * cell!; fg = fg + Part(peep, 2) * cell!; }
                            var iAct = f[0](Clip(ig, clip));
                            var fAct = f[0](Clip(fg, clip));
                            var cAct = f[1](Clip(Part(z, 3), clip));
                            nextCell = fAct * cell! + iAct * cAct;
                            if (peep is not null) og = og + Part(peep, 1) * nextCell;
                            next = f[0](Clip(og, clip)) * f[2](nextCell);
                            break;
                        }
                    }
                    if (lens is not null)
                    {
                        var valid = lens.gt(t).unsqueeze(1);
                        outs[t] = torch.where(valid, next, torch.zeros_like(next));
                        next = torch.where(valid, next, state);
                        if (nextCell is not null) nextCell = torch.where(valid, nextCell, cell!);
                    }
                    else outs[t] = next;
                    state = next;
                    if (nextCell is not null) cell = nextCell;
                }
                ys.Add(torch.stack(outs));
                hs.Add(state);
                if (cell is not null) cs.Add(cell);
            }
            var y = torch.stack(ys, 1);          // [seq, dirs, batch, h]
            var yh = torch.stack(hs);            // [dirs, batch, h]
            var yc = cs.Count > 0 ? torch.stack(cs) : null;
            if (batchFirst)
            {
                y = y.permute(2, 0, 1, 3);
                yh = yh.transpose(0, 1);
                yc = yc?.transpose(0, 1);
            }
            return yc is null ? new[] { y, yh } : new[] { y, yh, yc };
        };
    }

    static Tensor Clip(Tensor x, float? clip) => clip is { } c ? x.clamp(-c, c) : x;

    static Func<Tensor, Tensor> ActivationFor(string name, OnnxNodeContext ctx) => name.ToLowerInvariant() switch
    {
        "sigmoid" => t => t.sigmoid(),
        "tanh" => t => t.tanh(),
        "relu" => t => t.relu(),
        _ => throw ctx.Unsupported($"activation '{name}'"),
    };
}
