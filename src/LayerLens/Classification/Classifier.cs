using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Classification;

/// <summary>One ranked class of a prediction.</summary>
public readonly record struct ClassScore(int Rank, int ClassId, string Label, double Probability);

/// <summary>Class probabilities from a classifier's output, and the top-k of them.</summary>
public static class Classifier
{
    /// <summary>
    /// Probabilities of one output vector: kept as they are when they already form a distribution (non-negative,
    /// summing to 1 within 1e-3, as a softmax layer gives), otherwise passed through softmax.
    /// </summary>
    public static double[] Probabilities(Tensor output)
    {
        using var scope = torch.NewDisposeScope();
        var v = output.detach().to_type(ScalarType.Float64).cpu().flatten();
        if (v.isfinite().logical_not().any().item<bool>())
            throw new LayerLensException("classifier output contains NaN or infinite values", ErrorKind.BadInput);
        double sum = v.sum().item<double>();
        bool distribution = v.min().item<double>() >= 0 && Math.Abs(sum - 1) < 1e-3;
        var p = distribution ? v : v.softmax(0);
        return p.contiguous().data<double>().ToArray();
    }

    public static List<ClassScore> TopK(double[] probabilities, LabelSet labels, int k)
    {
        if (labels.Count != probabilities.Length)
            throw new LayerLensException($"label set '{labels.Name}' has {labels.Count} names but the model outputs {probabilities.Length} classes", ErrorKind.BadInput);
        return probabilities.Select((p, i) => (p, i)).OrderByDescending(x => x.p).ThenBy(x => x.i).Take(Math.Max(1, k))
            .Select((x, r) => new ClassScore(r + 1, x.i, labels[x.i], x.p)).ToList();
    }
}
