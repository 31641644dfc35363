using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Training;

/// <summary>Training losses. All take predictions [N] (regression) or logits [N, C] and return a scalar.</summary>
public static class Losses
{
    public static Tensor Compute(FineTuneOptions o, Tensor prediction, Tensor target) => o.Loss switch
    {
        LossKind.Mse => F.mse_loss(prediction, target),
        LossKind.Huber => F.huber_loss(prediction, target, o.HuberDelta),
        LossKind.Rank => SpearmanRank(prediction, target, o.RankTemperature),
        LossKind.CrossEntropy => F.cross_entropy(prediction, target, label_smoothing: o.LabelSmoothing),
        _ => throw new LayerLensException($"unknown loss {o.Loss}", ErrorKind.Usage),
    };

    /// <summary>
    /// 1 − Pearson correlation between soft ranks of the predictions and ranks of the targets: a differentiable
    /// stand-in for 1 − Spearman ρ. Soft rank i = Σⱼ sigmoid((pᵢ − pⱼ) / τ), with τ scaled by the batch's spread so
    /// the loss does not depend on the predictions' units.
    /// </summary>
    public static Tensor SpearmanRank(Tensor prediction, Tensor target, double temperature)
    {
        var p = prediction.flatten();
        var t = target.flatten().to_type(p.dtype);
        var scale = p.detach().std() + 1e-8;
        var diff = (p.unsqueeze(1) - p.unsqueeze(0)) / (scale * temperature);
        var softRank = diff.sigmoid().sum(1);
        var targetRank = (t.unsqueeze(1) - t.unsqueeze(0)).sign().add(1).mul(0.5).sum(1); // ties count half
        return 1 - Pearson(softRank, targetRank);
    }

    static Tensor Pearson(Tensor a, Tensor b)
    {
        var ac = a - a.mean();
        var bc = b - b.mean();
        return (ac * bc).sum() / ((ac.pow(2).sum() * bc.pow(2).sum()).sqrt() + 1e-12);
    }
}
