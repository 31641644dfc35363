namespace LayerLens.Quality.Evaluation;

/// <summary>LPIPS's scores on BAPPS: 2AFC agreement with people and JND mean average precision.</summary>
public static class PerceptualJudgements
{
    /// <summary>
    /// Mean 2AFC score: a triplet earns the fraction of people who agreed with the metric's choice (p1 when
    /// d1 &lt; d0, which earns the judged p1 fraction; p0 otherwise), and one half on a tie. Distances in; negate
    /// similarities first.
    /// </summary>
    public static double TwoAfcScore(IReadOnlyList<double> d0, IReadOnlyList<double> d1, IReadOnlyList<double> preferP1)
    {
        if (d0.Count != d1.Count || d0.Count != preferP1.Count || d0.Count == 0)
            throw new LayerLensException($"2AFC score: {d0.Count} d0, {d1.Count} d1 and {preferP1.Count} judgements (need equal, non-zero counts)", ErrorKind.BadInput);
        double sum = 0;
        for (int i = 0; i < d0.Count; i++)
        {
            if (!double.IsFinite(d0[i]) || !double.IsFinite(d1[i]))
                throw new LayerLensException($"2AFC score: distance of triplet {i + 1} is not finite", ErrorKind.BadInput);
            sum += d1[i] < d0[i] ? preferP1[i] : d1[i] > d0[i] ? 1 - preferP1[i] : 0.5;
        }
        return sum / d0.Count;
    }

    /// <summary>
    /// JND mean average precision: pairs sorted by distance (closest first, stable), "same" fractions as soft
    /// positives, precision/recall accumulated down the list, and the area under the monotone precision
    /// envelope (PASCAL VOC's all-point AP), as LPIPS computes it.
    /// </summary>
    public static double JndMeanAveragePrecision(IReadOnlyList<double> distance, IReadOnlyList<double> same)
    {
        if (distance.Count != same.Count || distance.Count == 0)
            throw new LayerLensException($"JND mAP: {distance.Count} distances and {same.Count} judgements", ErrorKind.BadInput);
        var order = Enumerable.Range(0, distance.Count).OrderBy(i => distance[i]).ToArray();
        double total = same.Sum();
        if (!(total > 0)) throw new LayerLensException("JND mAP: no pair was ever judged the same", ErrorKind.BadInput);
        int n = order.Length;
        var rec = new double[n + 2];
        var pre = new double[n + 2];
        double tp = 0, fp = 0;
        for (int k = 0; k < n; k++)
        {
            tp += same[order[k]];
            fp += 1 - same[order[k]];
            pre[k + 1] = tp / (tp + fp);
            rec[k + 1] = tp / total;
        }
        rec[n + 1] = 1;
        pre[n + 1] = 0;
        for (int i = n; i > 0; i--) pre[i - 1] = Math.Max(pre[i - 1], pre[i]);
        double ap = 0;
        for (int i = 0; i <= n; i++)
            if (rec[i + 1] != rec[i]) ap += (rec[i + 1] - rec[i]) * pre[i + 1];
        return ap;
    }
}
