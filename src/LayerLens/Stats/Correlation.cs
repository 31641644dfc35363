namespace LayerLens.Stats;

/// <summary>
/// Correlation coefficients as scipy.stats computes them (pearsonr, spearmanr, kendalltau variant 'b').
/// Degenerate inputs (a constant vector, fewer than two pairs, NaN) raise instead of returning NaN,
/// because a silent NaN in a results table is worse than an error that names the cause.
/// </summary>
public static class Correlation
{
    public static double Pearson(ReadOnlySpan<double> x, ReadOnlySpan<double> y, string what = "values")
    {
        Check(x, y, what);
        int n = x.Length;
        double mx = 0, my = 0;
        for (int i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
        mx /= n; my /= n;
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            double dx = x[i] - mx, dy = y[i] - my;
            sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
        }
        if (sxx == 0 || syy == 0)
            throw new LayerLensException($"{what}: correlation is undefined because one side is constant", ErrorKind.BadInput);
        double r = sxy / Math.Sqrt(sxx * syy);
        return Math.Clamp(r, -1.0, 1.0);
    }

    /// <summary>Spearman's ρ: Pearson r of average ranks, so ties get the mean of the ranks they span.</summary>
    public static double Spearman(ReadOnlySpan<double> x, ReadOnlySpan<double> y, string what = "values")
    {
        Check(x, y, what);
        return Pearson(Ranks.Average(x), Ranks.Average(y), what);
    }

    /// <summary>Kendall's τ-b (tie-corrected), O(n log n) by Knight's merge-sort count of discordant pairs.</summary>
    public static double KendallTauB(ReadOnlySpan<double> x, ReadOnlySpan<double> y, string what = "values")
    {
        var c = KendallCounts(x, y, what);
        double denom = Math.Sqrt((double)(c.Total - c.TiesX) * (c.Total - c.TiesY));
        if (denom == 0)
            throw new LayerLensException($"{what}: Kendall's tau is undefined because one side is constant", ErrorKind.BadInput);
        return Math.Clamp(c.ConcordantMinusDiscordant / denom, -1.0, 1.0);
    }

    /// <summary>Kendall's τ-a: (concordant − discordant) / all pairs; ties count as neither (rsatoolbox's RDM comparison).</summary>
    public static double KendallTauA(ReadOnlySpan<double> x, ReadOnlySpan<double> y, string what = "values")
    {
        var c = KendallCounts(x, y, what);
        return c.ConcordantMinusDiscordant / (double)c.Total;
    }

    readonly record struct PairCounts(long Total, long TiesX, long TiesY, double ConcordantMinusDiscordant);

    static PairCounts KendallCounts(ReadOnlySpan<double> x, ReadOnlySpan<double> y, string what)
    {
        Check(x, y, what);
        int n = x.Length;
        var idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        var xs = x.ToArray(); var ys = y.ToArray();
        // Sort by x, then y, so runs of equal x are contiguous and ordered by y.
        Array.Sort(idx, (a, b) => { int c = xs[a].CompareTo(xs[b]); return c != 0 ? c : ys[a].CompareTo(ys[b]); });
        long tiesX = 0, tiesXY = 0;
        for (int i = 0, j; i < n; i = j)
        {
            j = i + 1;
            while (j < n && xs[idx[j]] == xs[idx[i]]) j++;
            long run = j - i; tiesX += run * (run - 1) / 2;
            for (int a = i, b; a < j; a = b)
            {
                b = a + 1;
                while (b < j && ys[idx[b]] == ys[idx[a]]) b++;
                long r2 = b - a; tiesXY += r2 * (r2 - 1) / 2;
            }
        }
        var seq = new double[n];
        for (int i = 0; i < n; i++) seq[i] = ys[idx[i]];
        long swaps = MergeCountSwaps(seq, new double[n], 0, n);
        long tiesY = 0;
        for (int i = 0, j; i < n; i = j)
        {
            j = i + 1;
            while (j < n && seq[j] == seq[i]) j++;
            long run = j - i; tiesY += run * (run - 1) / 2;
        }
        long total = (long)n * (n - 1) / 2;
        return new PairCounts(total, tiesX, tiesY, (double)(total - tiesX - tiesY + tiesXY - 2 * swaps));
    }

    // Counts strict inversions (pairs out of order) while sorting ascending; equal values are not inversions.
    static long MergeCountSwaps(double[] a, double[] tmp, int lo, int hi)
    {
        if (hi - lo < 2) return 0;
        int mid = (lo + hi) / 2;
        long s = MergeCountSwaps(a, tmp, lo, mid) + MergeCountSwaps(a, tmp, mid, hi);
        int i = lo, j = mid, k = lo;
        while (i < mid && j < hi)
        {
            if (a[i] <= a[j]) tmp[k++] = a[i++];
            else { s += mid - i; tmp[k++] = a[j++]; }
        }
        while (i < mid) tmp[k++] = a[i++];
        while (j < hi) tmp[k++] = a[j++];
        Array.Copy(tmp, lo, a, lo, hi - lo);
        return s;
    }

    static void Check(ReadOnlySpan<double> x, ReadOnlySpan<double> y, string what)
    {
        if (x.Length != y.Length)
            throw new LayerLensException($"{what}: the two sides have different lengths ({x.Length} and {y.Length})", ErrorKind.BadInput);
        if (x.Length < 2)
            throw new LayerLensException($"{what}: a correlation needs at least two pairs (got {x.Length})", ErrorKind.BadInput);
        for (int i = 0; i < x.Length; i++)
            if (!double.IsFinite(x[i]) || !double.IsFinite(y[i]))
                throw new LayerLensException($"{what}: value {i} is not a finite number ({x[i]}, {y[i]})", ErrorKind.BadInput);
    }
}

/// <summary>Ranks as scipy.stats.rankdata(method='average'): 1-based, ties share the mean of their ranks.</summary>
public static class Ranks
{
    public static double[] Average(ReadOnlySpan<double> x)
    {
        int n = x.Length;
        var idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        var xs = x.ToArray();
        Array.Sort(xs.ToArray(), idx);
        var ranks = new double[n];
        for (int i = 0, j; i < n; i = j)
        {
            j = i + 1;
            while (j < n && xs[idx[j]] == xs[idx[i]]) j++;
            double r = (i + 1 + j) / 2.0;
            for (int k = i; k < j; k++) ranks[idx[k]] = r;
        }
        return ranks;
    }
}
