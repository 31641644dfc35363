namespace LayerLens.Quality.Distances;

/// <summary>
/// Train/test split of image pairs by reference image: every distorted version of a reference falls on the
/// same side, so a fitted readout is never tested on content it was trained on.
/// </summary>
public static class ReferenceSplit
{
    public static (int[] Train, int[] Test) Split(IReadOnlyList<string> referenceOfPair, double testFraction, int seed)
    {
        if (!(testFraction > 0 && testFraction < 1))
            throw new LayerLensException($"test fraction must lie strictly between 0 and 1, got {testFraction}", ErrorKind.Usage);
        var refs = referenceOfPair.Distinct(StringComparer.Ordinal).OrderBy(r => r, StringComparer.Ordinal).ToArray();
        if (refs.Length < 2)
            throw new LayerLensException($"a split by reference image needs at least 2 reference images, got {refs.Length}", ErrorKind.BadInput);
        new Random(seed).Shuffle(refs);
        int nTest = Math.Clamp((int)Math.Round(refs.Length * testFraction), 1, refs.Length - 1);
        var test = new HashSet<string>(refs.Take(nTest), StringComparer.Ordinal);
        var trainIdx = new List<int>();
        var testIdx = new List<int>();
        for (int i = 0; i < referenceOfPair.Count; i++)
            (test.Contains(referenceOfPair[i]) ? testIdx : trainIdx).Add(i);
        return (trainIdx.ToArray(), testIdx.ToArray());
    }
}
