using TorchSharp;
namespace LayerLens.Readout;

/// <summary>One split of the samples. Validation is empty unless the scheme defines it (LaMem's splits).</summary>
public sealed record Fold(int Index, int[] Train, int[] Test, int[] Validation)
{
    public Fold(int index, int[] train, int[] test) : this(index, train, test, Array.Empty<int>()) { }
}

/// <summary>
/// Cross-validation schemes. Every scheme returns disjoint train and test index sets, so no readout is ever fitted
/// or tuned on a test fold. Random schemes take a seed (System.Random, stable across runs).
/// </summary>
public static class CrossValidation
{
    /// <summary>scikit-learn KFold: the first n mod k folds get one extra sample; shuffled first when a seed is given.</summary>
    public static IReadOnlyList<Fold> KFold(int n, int k, int? seed = null)
    {
        if (k < 2) throw new LayerLensException($"k-fold cross-validation needs k ≥ 2 (got {k})", ErrorKind.Usage);
        if (n < k) throw new LayerLensException($"{n} samples are fewer than the {k} folds asked for", ErrorKind.BadInput);
        var order = Enumerable.Range(0, n).ToArray();
        if (seed is int s) new Random(s).Shuffle(order);
        var folds = new List<Fold>();
        int start = 0;
        for (int f = 0; f < k; f++)
        {
            int size = n / k + (f < n % k ? 1 : 0);
            var test = order[start..(start + size)];
            var testSet = new HashSet<int>(test);
            folds.Add(new Fold(f, order.Where(i => !testSet.Contains(i)).OrderBy(i => i).ToArray(), test.OrderBy(i => i).ToArray()));
            start += size;
        }
        return folds;
    }

    public static IReadOnlyList<Fold> RepeatedKFold(int n, int k, int repeats, int seed)
    {
        var rng = new Random(seed);
        var all = new List<Fold>();
        for (int r = 0; r < repeats; r++)
            foreach (var f in KFold(n, k, rng.Next()))
                all.Add(f with { Index = all.Count });
        return all;
    }

    /// <summary>
    /// Stratified shuffle split: in each split every stratum contributes round(trainFraction × its size) samples to
    /// training (at least one to each side when it has two or more), the rest to test.
    /// </summary>
    public static IReadOnlyList<Fold> StratifiedShuffleSplit(IReadOnlyList<string> strata, int splits, double trainFraction, int seed)
    {
        if (!(trainFraction > 0 && trainFraction < 1)) throw new LayerLensException($"train fraction must be in (0, 1), got {trainFraction}", ErrorKind.Usage);
        var groups = Enumerable.Range(0, strata.Count).GroupBy(i => strata[i], StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();
        var rng = new Random(seed);
        var folds = new List<Fold>();
        for (int s = 0; s < splits; s++)
        {
            var train = new List<int>(); var test = new List<int>();
            foreach (var g in groups)
            {
                var perm = (int[])g.Clone();
                rng.Shuffle(perm);
                int nTrain = (int)Math.Round(trainFraction * perm.Length, MidpointRounding.ToEven);
                if (perm.Length >= 2) nTrain = Math.Clamp(nTrain, 1, perm.Length - 1);
                train.AddRange(perm[..nTrain]); test.AddRange(perm[nTrain..]);
            }
            if (test.Count == 0) throw new LayerLensException("stratified split: every stratum has a single sample, nothing is left to test on", ErrorKind.BadInput);
            train.Sort(); test.Sort();
            folds.Add(new Fold(s, train.ToArray(), test.ToArray()));
        }
        return folds;
    }

    /// <summary>Predefined folds from a column: each distinct value is one test fold, trained on all other rows.</summary>
    public static IReadOnlyList<Fold> FromColumn(IReadOnlyList<string> foldOfSample, string column = "fold")
    {
        var values = foldOfSample.Distinct(StringComparer.Ordinal).OrderBy(v => v, StringComparer.Ordinal).ToArray();
        if (values.Length < 2) throw new LayerLensException($"column '{column}' defines {values.Length} fold(s); at least two are needed", ErrorKind.BadInput);
        return values.Select((v, f) => new Fold(f,
            Enumerable.Range(0, foldOfSample.Count).Where(i => foldOfSample[i] != v).ToArray(),
            Enumerable.Range(0, foldOfSample.Count).Where(i => foldOfSample[i] == v).ToArray())).ToArray();
    }

    /// <summary>
    /// LaMem's five splits: lamem/splits/{train,val,test}_{1..5}.txt, each line "&lt;relative image path&gt; &lt;score&gt;".
    /// Samples are matched to the listed paths by <paramref name="ids"/>; listed paths missing from the ids are an error.
    /// </summary>
    public static IReadOnlyList<Fold> LaMem(string splitsDir, IReadOnlyList<string> ids)
    {
        var pos = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < ids.Count; i++) pos.TryAdd(Normalize(ids[i]), i);
        var folds = new List<Fold>();
        for (int s = 1; s <= 5; s++)
        {
            int[] Read(string part)
            {
                var path = Path.Combine(splitsDir, $"{part}_{s}.txt");
                if (!File.Exists(path)) throw new LayerLensException($"{path}: LaMem split file not found", ErrorKind.BadInput);
                var idx = new List<int>(); var missing = new List<string>();
                int line = 0;
                foreach (var raw in File.ReadLines(path))
                {
                    line++;
                    var text = raw.Trim();
                    if (text.Length == 0) continue;
                    var name = Normalize(text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0]);
                    if (pos.TryGetValue(name, out int i)) idx.Add(i); else missing.Add($"{name} (line {line})");
                }
                if (missing.Count > 0)
                    throw new LayerLensException($"{path}: {missing.Count} listed images have no features, e.g. {string.Join(", ", missing.Take(3))}", ErrorKind.BadInput);
                return idx.ToArray();
            }
            folds.Add(new Fold(s - 1, Read("train"), Read("test"), Read("val")));
        }
        return folds;
    }

    static string Normalize(string id) => id.Replace('\\', '/').TrimStart('.', '/');

    /// <summary>Parses --cv: kfold:K, repeated:K:R, stratified:SPLITS:TRAIN_FRACTION, column:NAME (needs the column), lamem:DIR.</summary>
    public static IReadOnlyList<Fold> Parse(string spec, IReadOnlyList<string> ids, Func<string, IReadOnlyList<string>> column, int seed)
    {
        var parts = spec.Split(':');
        try
        {
            return parts[0] switch
            {
                "kfold" => KFold(ids.Count, parts.Length > 1 ? int.Parse(parts[1]) : 5, parts.Length > 2 ? seed : null),
                "repeated" => RepeatedKFold(ids.Count, int.Parse(parts[1]), parts.Length > 2 ? int.Parse(parts[2]) : 10, seed),
                "stratified" => StratifiedShuffleSplit(column(parts.Length > 3 ? parts[3] : "object_name"), int.Parse(parts[1]), double.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), seed),
                "column" => FromColumn(column(parts[1]), parts[1]),
                "lamem" => LaMem(parts.Length > 1 ? string.Join(':', parts[1..]) : "lamem/splits", ids),
                _ => throw new LayerLensException($"--cv '{spec}': unknown scheme (kfold:K, repeated:K:R, stratified:SPLITS:FRACTION[:COLUMN], column:NAME, lamem[:DIR])", ErrorKind.Usage),
            };
        }
        catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
        {
            throw new LayerLensException($"--cv '{spec}': cannot parse ({e.Message})", ErrorKind.Usage);
        }
    }
}
