using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Training;

/// <summary>
/// AdamW and SGD with momentum over named tensors, written out so that their whole state (moments, step
/// count) is plain tensors that a checkpoint saves and restores exactly. The update rules are PyTorch's
/// (torch.optim.AdamW with decoupled weight decay; torch.optim.SGD with weight decay added to the gradient).
/// </summary>
public sealed class Optimizer : IDisposable
{
    readonly FineTuneOptions _o;
    readonly Dictionary<string, (Tensor Param, double LrScale)> _params;
    readonly Dictionary<string, Tensor> _state = new(StringComparer.Ordinal);

    public Optimizer(FineTuneOptions options, IReadOnlyDictionary<string, (Tensor Param, double LrScale)> parameters)
    {
        _o = options;
        _params = new(parameters, StringComparer.Ordinal);
    }

    public long Step { get; private set; }

    public IReadOnlyDictionary<string, Tensor> State => _state;

    /// <summary>Applies one update with learning rate <paramref name="lr"/> to every parameter that has a gradient.</summary>
    public void Update(double lr)
    {
        Step++;
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        foreach (var (name, (p, scale)) in _params)
        {
            var g = p.grad;
            if (g is null) continue;
            double rate = lr * scale;
            if (_o.Optimizer == OptimizerKind.AdamW)
            {
                const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
                var m = StateFor(name + ".exp_avg", p);
                var v = StateFor(name + ".exp_avg_sq", p);
                p.mul_(1 - rate * _o.WeightDecay);
                m.mul_(b1).add_(g, 1 - b1);
                v.mul_(b2).addcmul_(g, g, 1 - b2);
                double c1 = 1 - Math.Pow(b1, Step), c2 = 1 - Math.Pow(b2, Step);
                var denom = (v / c2).sqrt().add_(eps);
                p.addcdiv_(m, denom, -rate / c1);
            }
            else
            {
                var d = _o.WeightDecay != 0 ? g + p * _o.WeightDecay : g;
                if (_o.Momentum != 0)
                {
                    bool first = !_state.ContainsKey(name + ".momentum_buffer");
                    var buf = StateFor(name + ".momentum_buffer", p);
                    if (first) buf.copy_(d); else buf.mul_(_o.Momentum).add_(d);
                    d = buf;
                }
                p.sub_(d * rate);
            }
        }
    }

    /// <summary>Clears the gradients of every parameter.</summary>
    public void ZeroGrad()
    {
        foreach (var (p, _) in _params.Values)
            if (p.grad is { } g) { g.zero_(); }
    }

    /// <summary>Scales gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before.</summary>
    public double ClipGradients(double maxNorm)
    {
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        // As torch.nn.utils.clip_grad_norm_: the norm of the per-tensor norms, read back once (no squared copies).
        var grads = _params.Values.Select(v => v.Param.grad).OfType<Tensor>().ToList();
        if (grads.Count == 0) return 0;
        double norm = torch.stack(grads.Select(g => g.norm().to_type(ScalarType.Float64)).ToArray()).norm().ToDouble();
        if (norm > maxNorm)
            foreach (var (p, _) in _params.Values)
                if (p.grad is { } g) g.mul_(maxNorm / (norm + 1e-6));
        return norm;
    }

    /// <summary>Restores state saved from <see cref="State"/> and the step count.</summary>
    public void Restore(IReadOnlyDictionary<string, Tensor> state, long step)
    {
        foreach (var t in _state.Values) t.Dispose();
        _state.Clear();
        foreach (var (k, v) in state) _state[k] = v.clone();
        Step = step;
    }

    Tensor StateFor(string key, Tensor like)
    {
        if (!_state.TryGetValue(key, out var t))
        {
            t = torch.zeros_like(like).DetachFromDisposeScope();
            _state[key] = t;
        }
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _state.Values) t.Dispose();
        _state.Clear();
    }
}

/// <summary>Learning rate per epoch: linear warm-up, then constant, cosine to zero, or step decay.</summary>
public static class LearningRateSchedule
{
    public static double At(FineTuneOptions o, int epoch)
    {
        if (epoch < o.WarmupEpochs) return o.LearningRate * (epoch + 1) / (o.WarmupEpochs + 1);
        int e = epoch - o.WarmupEpochs;
        int total = Math.Max(1, o.Epochs - o.WarmupEpochs);
        return o.Schedule switch
        {
            ScheduleKind.Cosine => o.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * e / total)),
            ScheduleKind.Step => o.LearningRate * Math.Pow(o.StepGamma, e / Math.Max(1, o.StepSize)),
            _ => o.LearningRate,
        };
    }
}
