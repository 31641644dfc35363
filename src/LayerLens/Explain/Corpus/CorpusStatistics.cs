using LayerLens.Stats;

namespace LayerLens.Explain.Corpus;

/// <summary>One detected object of one image as the corpus statistics see it (one CAM method).</summary>
public sealed record ObjectObservation(string Category, double Score, double Importance);

/// <summary>One image: its top class, the classifier's confidence in it, and its objects with their importance.</summary>
public sealed record ImageObservation(string Id, int TopClass, double Confidence, IReadOnlyList<ObjectObservation> Objects);

/// <summary>
/// Which images and objects enter the corpus statistics: images whose top-class confidence is at least
/// <paramref name="MinClassConfidence"/>; objects scoring at least <paramref name="MinDetectionScore"/> whose importance
/// is at least <paramref name="MinImportance"/>.
/// </summary>
public sealed record CorpusFilter(double MinClassConfidence = 0, double MinDetectionScore = 0.3, double MinImportance = 0);

/// <summary>
/// The binary image × variable table EmoCAM builds: per kept image its top class and the object categories that pass
/// the filters, each category counted once per image (its importance is the largest over the image's boxes of it).
/// </summary>
public sealed class PresenceMatrix
{
    internal PresenceMatrix(IReadOnlyList<string> ids, int[] classes, IReadOnlyList<string> classNames, IReadOnlyList<string> categories,
        IReadOnlyList<IReadOnlyDictionary<int, double>> objects)
    {
        ImageIds = ids; Classes = classes; ClassNames = classNames; Categories = categories; Objects = objects;
    }

    public IReadOnlyList<string> ImageIds { get; }
    /// <summary>Top class of each kept image.</summary>
    public int[] Classes { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public IReadOnlyList<string> Categories { get; }
    /// <summary>Per kept image: category index → importance (largest over its boxes).</summary>
    public IReadOnlyList<IReadOnlyDictionary<int, double>> Objects { get; }
    public int Count => Classes.Length;
}

/// <summary>
/// One cell of the class × object-category table. Count: images of the class in which the category is present;
/// Expected: ClassImages · CategoryImages / Images, the count if category and class were independent; Enrichment:
/// Count / Expected (NaN when Expected is 0); MeanImportance: mean over those images of the category's importance (NaN when
/// Count is 0); PValue: two-sided permutation p-value of Count − Expected, class labels shuffled over images; NullLow/NullHigh:
/// the central 95% band of the permuted counts.
/// </summary>
public sealed record ClassCategoryCell(string Class, string Category, int Count, int ClassImages, int CategoryImages, int Images,
    double Expected, double Enrichment, double MeanImportance, double PValue, double NullLow, double NullHigh);

/// <summary>A square association matrix over variables (classes, then object categories).</summary>
public sealed record AssociationMatrix(string Measure, IReadOnlyList<string> Variables, double[,] Values);

/// <summary>
/// Agreement of two CAM methods: Spearman ρ of their association matrices' lower triangles over Pairs entries. PValue:
/// two-sided p-value from the t distribution with n − 2 degrees of freedom (scipy.stats.spearmanr's); PermutationPValue:
/// two-sided permutation p-value (the pairing of the two triangles shuffled).
/// </summary>
public sealed record MethodAgreement(string Measure, string MethodA, string MethodB, int Pairs, double Rho, double PValue, double PermutationPValue);

public enum AssociationMeasure { Dice, Jaccard }

/// <summary>Corpus-level statistics of CAM importance and object categories (EmoCAM's analysis and its tests).</summary>
public static class CorpusStatistics
{
    /// <summary>
    /// Applies the filters and builds the presence table. <paramref name="categories"/> fixes the category list (and its order)
    /// so that tables of several CAM methods line up; null = the sorted categories that occur.
    /// </summary>
    public static PresenceMatrix Presence(IReadOnlyList<ImageObservation> images, IReadOnlyList<string> classNames, CorpusFilter filter,
        IReadOnlyList<string>? categories = null)
    {
        var kept = images.Where(i => i.Confidence >= filter.MinClassConfidence).ToList();
        bool Passes(ObjectObservation o) => o.Score >= filter.MinDetectionScore && o.Importance >= filter.MinImportance;
        var cats = categories ?? kept.SelectMany(i => i.Objects.Where(Passes).Select(o => o.Category)).Distinct().OrderBy(c => c, StringComparer.Ordinal).ToList();
        var index = new Dictionary<string, int>();
        for (int k = 0; k < cats.Count; k++) index[cats[k]] = k;
        var objects = new List<IReadOnlyDictionary<int, double>>(kept.Count);
        foreach (var img in kept)
        {
            if (img.TopClass < 0 || img.TopClass >= classNames.Count)
                throw new LayerLensException($"image '{img.Id}': class {img.TopClass} is outside the {classNames.Count} class names", ErrorKind.Internal);
            var d = new Dictionary<int, double>();
            foreach (var o in img.Objects)
            {
                if (!Passes(o) || !index.TryGetValue(o.Category, out var k)) continue;
                d[k] = d.TryGetValue(k, out var prev) ? Math.Max(prev, o.Importance) : o.Importance;
            }
            objects.Add(d);
        }
        return new PresenceMatrix(kept.Select(i => i.Id).ToList(), kept.Select(i => i.TopClass).ToArray(), classNames, cats, objects);
    }

    /// <summary>
    /// Class × category counts, mean importance and enrichment over the base rates, with a permutation test: the classes
    /// are shuffled over the images (each permutation serves every cell at once), p = (1 + #{|null − E| ≥ |obs − E|}) / (1 + P),
    /// the same rule and random stream as <see cref="Resampling.PermutationTest"/> applied to one cell.
    /// </summary>
    public static List<ClassCategoryCell> ClassCategoryTable(PresenceMatrix m, int permutations = 1000, int seed = 0, double band = 0.95)
    {
        int n = m.Count, nc = m.ClassNames.Count, nk = m.Categories.Count;
        var count = Counts(m.Classes, m.Objects, nc, nk);
        var classImages = new int[nc];
        foreach (var c in m.Classes) classImages[c]++;
        var catImages = new int[nk];
        var importance = new double[nc, nk];
        for (int i = 0; i < n; i++)
            foreach (var (k, imp) in m.Objects[i]) { catImages[k]++; importance[m.Classes[i], k] += imp; }
        var expected = new double[nc, nk];
        for (int c = 0; c < nc; c++)
            for (int k = 0; k < nk; k++) expected[c, k] = n == 0 ? 0 : (double)classImages[c] * catImages[k] / n;

        var extreme = new int[nc, nk];
        var nulls = new double[nc, nk][];
        for (int c = 0; c < nc; c++) for (int k = 0; k < nk; k++) nulls[c, k] = new double[permutations];
        var perm = (int[])m.Classes.Clone();
        var rng = new Random(seed);
        for (int p = 0; p < permutations; p++)
        {
            rng.Shuffle(perm);
            var pc = Counts(perm, m.Objects, nc, nk);
            for (int c = 0; c < nc; c++)
                for (int k = 0; k < nk; k++)
                {
                    double obs = count[c, k] - expected[c, k], s = pc[c, k] - expected[c, k];
                    nulls[c, k][p] = pc[c, k];
                    if (Math.Abs(s) >= Math.Abs(obs) - 1e-12 * Math.Max(1, Math.Abs(obs))) extreme[c, k]++;
                }
        }
        var rows = new List<ClassCategoryCell>();
        double a = (1 - band) / 2;
        for (int c = 0; c < nc; c++)
            for (int k = 0; k < nk; k++)
            {
                double lo = double.NaN, hi = double.NaN;
                if (permutations > 0)
                {
                    var sorted = nulls[c, k];
                    Array.Sort(sorted);
                    lo = Resampling.Quantile(sorted, a); hi = Resampling.Quantile(sorted, 1 - a);
                }
                rows.Add(new ClassCategoryCell(m.ClassNames[c], m.Categories[k], count[c, k], classImages[c], catImages[k], n,
                    expected[c, k], expected[c, k] > 0 ? count[c, k] / expected[c, k] : double.NaN,
                    count[c, k] > 0 ? importance[c, k] / count[c, k] : double.NaN,
                    permutations > 0 ? (1.0 + extreme[c, k]) / (1.0 + permutations) : double.NaN, lo, hi));
            }
        return rows;
    }

    static int[,] Counts(int[] classes, IReadOnlyList<IReadOnlyDictionary<int, double>> objects, int nc, int nk)
    {
        var counts = new int[nc, nk];
        for (int i = 0; i < classes.Length; i++)
            foreach (var k in objects[i].Keys) counts[classes[i], k]++;
        return counts;
    }

    /// <summary>
    /// Association matrix over <paramref name="variables"/> (class names and category names; a name that is both refers
    /// to the class) from the binary image × variable vectors: Dice similarity 2|a∧b| / (|a| + |b|) = 1 − scipy's dice distance,
    /// or Jaccard |a∧b| / |a∨b| = 1 − jaccard distance. NaN where both vectors are all zero.
    /// </summary>
    public static AssociationMatrix Association(PresenceMatrix m, AssociationMeasure measure, IReadOnlyList<string>? variables = null)
    {
        variables ??= m.Classes.Distinct().OrderBy(c => c).Select(c => m.ClassNames[c])
            .Concat(m.Categories.Where((_, k) => m.Objects.Any(o => o.ContainsKey(k)))).Distinct().ToList();
        int v = variables.Count;
        var classVar = new int[m.ClassNames.Count];
        var catVar = new int[m.Categories.Count];
        Array.Fill(classVar, -1); Array.Fill(catVar, -1);
        for (int j = v - 1; j >= 0; j--)
        {
            int c = IndexOf(m.ClassNames, variables[j]), k = IndexOf(m.Categories, variables[j]);
            if (c >= 0) classVar[c] = j;
            else if (k >= 0) catVar[k] = j;
        }
        var co = new long[v, v];
        var active = new List<int>();
        for (int i = 0; i < m.Count; i++)
        {
            active.Clear();
            if (classVar[m.Classes[i]] >= 0) active.Add(classVar[m.Classes[i]]);
            foreach (var k in m.Objects[i].Keys) if (catVar[k] >= 0) active.Add(catVar[k]);
            foreach (var a in active) foreach (var b in active) co[a, b]++;
        }
        var values = new double[v, v];
        for (int a = 0; a < v; a++)
            for (int b = 0; b < v; b++)
            {
                double both = co[a, b], na = co[a, a], nb = co[b, b];
                values[a, b] = measure == AssociationMeasure.Dice
                    ? (na + nb == 0 ? double.NaN : 2 * both / (na + nb))
                    : (na + nb - both == 0 ? double.NaN : both / (na + nb - both));
            }
        return new AssociationMatrix(measure.ToString().ToLowerInvariant(), variables, values);
    }

    static int IndexOf(IReadOnlyList<string> list, string name)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == name) return i;
        return -1;
    }

    /// <summary>The strict lower triangle (row &gt; column), row by row.</summary>
    public static double[] LowerTriangle(double[,] values)
    {
        int n = values.GetLength(0);
        var t = new double[n * (n - 1) / 2];
        int q = 0;
        for (int r = 1; r < n; r++) for (int c = 0; c < r; c++) t[q++] = values[r, c];
        return t;
    }

    /// <summary>
    /// Spearman ρ between two association matrices' lower triangles (entries NaN in either are left out), its t-distribution
    /// p-value as scipy.stats.spearmanr gives it, and a seeded permutation p-value. ρ and p are NaN when fewer than three pairs
    /// remain or one side is constant.
    /// </summary>
    public static MethodAgreement Agreement(string methodA, AssociationMatrix a, string methodB, AssociationMatrix b, int permutations = 1000, int seed = 0)
    {
        if (!a.Variables.SequenceEqual(b.Variables))
            throw new LayerLensException("association matrices of different variables cannot be compared", ErrorKind.Internal);
        var ta = LowerTriangle(a.Values);
        var tb = LowerTriangle(b.Values);
        var x = new List<double>(); var y = new List<double>();
        for (int i = 0; i < ta.Length; i++)
            if (double.IsFinite(ta[i]) && double.IsFinite(tb[i])) { x.Add(ta[i]); y.Add(tb[i]); }
        if (x.Count < 3 || x.Distinct().Count() < 2 || y.Distinct().Count() < 2)
            return new MethodAgreement(a.Measure, methodA, methodB, x.Count, double.NaN, double.NaN, double.NaN);
        double rho = Correlation.Spearman(x.ToArray(), y.ToArray(), "association matrices");
        double permP = double.NaN;
        if (permutations > 0)
            permP = Resampling.PermutationTest(x.ToArray(), y.ToArray(), (p, q) => SafeSpearman(p, q), permutations, seed).PValue;
        return new MethodAgreement(a.Measure, methodA, methodB, x.Count, rho, SpearmanPValue(rho, x.Count), permP);
    }

    static double SafeSpearman(double[] p, double[] q)
    {
        try { return Correlation.Spearman(p, q); }
        catch (LayerLensException) { return 0; }
    }

    /// <summary>Two-sided p-value of a Spearman (or Pearson) r over n pairs: t = r√((n−2)/(1−r²)), Student t with n − 2 df.</summary>
    public static double SpearmanPValue(double r, int n)
    {
        if (n < 3 || !double.IsFinite(r)) return double.NaN;
        double df = n - 2;
        double r2 = Math.Min(r * r, 1);
        if (r2 >= 1) return 0;
        double t2 = r2 * df / (1 - r2);
        return SpecialFunctions.RegularizedBeta(df / (df + t2), df / 2, 0.5);
    }
}

/// <summary>The regularized incomplete beta function (continued fraction, modified Lentz), for t-distribution p-values.</summary>
public static class SpecialFunctions
{
    public static double LogGamma(double x)
    {
        // Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for x > 0.
        double[] c = { 0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7 };
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        x -= 1;
        double a = c[0];
        double t = x + 7.5;
        for (int i = 1; i < 9; i++) a += c[i] / (x + i);
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }

    /// <summary>I_x(a, b).</summary>
    public static double RegularizedBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        double lnFront = LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x);
        if (x < (a + 1) / (a + b + 2)) return Math.Exp(lnFront) * BetaFraction(x, a, b) / a;
        return 1 - Math.Exp(lnFront) * BetaFraction(1 - x, b, a) / b;
    }

    static double BetaFraction(double x, double a, double b)
    {
        const double tiny = 1e-300, eps = 1e-15;
        double qab = a + b, qap = a + 1, qam = a - 1;
        double c = 1, d = 1 - qab * x / qap;
        if (Math.Abs(d) < tiny) d = tiny;
        d = 1 / d;
        double h = d;
        for (int m = 1; m <= 500; m++)
        {
            int m2 = 2 * m;
            double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
            d = 1 + aa * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d; h *= d * c;
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
            d = 1 + aa * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double del = d * c;
            h *= del;
            if (Math.Abs(del - 1) < eps) break;
        }
        return h;
    }
}
