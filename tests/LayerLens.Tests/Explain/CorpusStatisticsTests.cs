using System.Text.Json;
using LayerLens.Detection;
using LayerLens.Explain.Corpus;
using LayerLens.Stats;
using LayerLens.Zoo;

namespace LayerLens.Tests.Explain;

/// <summary>
/// Corpus statistics on a small constructed corpus worked out by hand, and against scipy
/// (Fixtures/Explain/corpus.json, made by scripts/fixtures/make_corpus_fixtures.py).
/// </summary>
public class CorpusStatisticsTests
{
    static readonly JsonElement Fx = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Explain", "corpus.json"))).RootElement;
    static readonly string[] Classes = { "happy", "sad", "fear" };

    static ObjectObservation O(string c, double score, double imp) => new(c, score, imp);

    // Six images. Filters: confidence ≥ 0.3 (drops img6), score ≥ 0.3 (drops img3's dog), importance ≥ 0.1 (drops img3's car).
    // Kept presence:  img1 happy {person 0.8 (max of 0.8, 0.5), dog 0.2}; img2 happy {person 0.6}; img3 happy {};
    //                 img4 sad {person 0.4, car 0.3}; img5 sad {car 0.7}.
    static readonly ImageObservation[] Corpus =
    {
        new("img1", 0, 0.9, new[] { O("person", 0.9, 0.8), O("person", 0.8, 0.5), O("dog", 0.9, 0.2) }),
        new("img2", 0, 0.8, new[] { O("person", 0.95, 0.6) }),
        new("img3", 0, 0.5, new[] { O("dog", 0.2, 0.9), O("car", 0.7, 0.05) }),
        new("img4", 1, 0.6, new[] { O("person", 0.9, 0.4), O("car", 0.9, 0.3) }),
        new("img5", 1, 0.7, new[] { O("car", 0.6, 0.7) }),
        new("img6", 2, 0.2, new[] { O("person", 0.9, 0.9) }),
    };
    static readonly CorpusFilter Filter = new(MinClassConfidence: 0.3, MinDetectionScore: 0.3, MinImportance: 0.1);

    [Fact]
    public void Presence_applies_the_filters_and_counts_a_category_once_per_image()
    {
        var m = CorpusStatistics.Presence(Corpus, Classes, Filter);
        Assert.Equal(new[] { "img1", "img2", "img3", "img4", "img5" }, m.ImageIds);
        Assert.Equal(new[] { "car", "dog", "person" }, m.Categories);
        Assert.Equal(new[] { 0, 0, 0, 1, 1 }, m.Classes);
        Assert.Equal(2, m.Objects[0].Count);
        Assert.Equal(0.8, m.Objects[0][2]);   // person: the larger of its two boxes' importance
        Assert.Empty(m.Objects[2]);
        Assert.Equal(0.3, m.Objects[3][0]);
    }

    [Fact]
    public void Class_by_category_table_matches_the_hand_worked_counts_and_enrichment()
    {
        var m = CorpusStatistics.Presence(Corpus, Classes, Filter);
        var rows = CorpusStatistics.ClassCategoryTable(m, permutations: 0);
        ClassCategoryCell Cell(string c, string k) => rows.Single(r => r.Class == c && r.Category == k);
        Assert.Equal(9, rows.Count);
        var hp = Cell("happy", "person");   // 2 of 3 happy images; person in 3 of 5 images: expected 3·3/5 = 1.8
        Assert.Equal((2, 3, 3, 5), (hp.Count, hp.ClassImages, hp.CategoryImages, hp.Images));
        Assert.Equal(1.8, hp.Expected, 12);
        Assert.Equal(2 / 1.8, hp.Enrichment, 12);
        Assert.Equal(0.7, hp.MeanImportance, 12);    // (0.8 + 0.6) / 2
        var sc = Cell("sad", "car");        // both sad images; car in 2 of 5: expected 0.8, enrichment 2.5
        Assert.Equal(2, sc.Count);
        Assert.Equal(0.8, sc.Expected, 12);
        Assert.Equal(2.5, sc.Enrichment, 12);
        Assert.Equal(0.5, sc.MeanImportance, 12);    // (0.3 + 0.7) / 2
        var hc = Cell("happy", "car");
        Assert.Equal(0, hc.Count);
        Assert.Equal(0.0, hc.Enrichment);
        Assert.True(double.IsNaN(hc.MeanImportance));
        var fp = Cell("fear", "person");    // fear's only image failed the confidence filter
        Assert.Equal(0, fp.ClassImages);
        Assert.True(double.IsNaN(fp.Enrichment));
    }

    [Fact]
    public void Enrichment_permutation_p_approaches_the_exact_hypergeometric_value_and_equals_the_shared_permutation_test()
    {
        var m = CorpusStatistics.Presence(Corpus, Classes, Filter);
        // sad × car: class labels {h,h,h,s,s} shuffled over 5 images, car in 2 of them. The count of sad among the car images is
        // hypergeometric: P(2) = 1/10, P(1) = 6/10, P(0) = 3/10. |count − 0.8| ≥ |2 − 0.8| only for count 2: exact p = 0.1.
        var rows = CorpusStatistics.ClassCategoryTable(m, permutations: 20000, seed: 3);
        var sc = rows.Single(r => r.Class == "sad" && r.Category == "car");
        Assert.InRange(sc.PValue, 0.09, 0.11);
        // happy × person: count 2 vs 1.8; counts 1, 2, 3 have |c − 1.8| = 0.8, 0.2, 1.2 and 0 is impossible (two non-happy
        // images cannot hold all three persons), so every permutation is as extreme: p = 1.
        Assert.Equal(1.0, rows.Single(r => r.Class == "happy" && r.Category == "person").PValue, 12);

        // One permutation stream serves all cells; for one cell it must equal Resampling.PermutationTest on the indicator vectors.
        var few = CorpusStatistics.ClassCategoryTable(m, permutations: 500, seed: 11);
        double[] car = m.Objects.Select(o => o.ContainsKey(0) ? 1.0 : 0.0).ToArray();
        double[] sad = m.Classes.Select(c => c == 1 ? 1.0 : 0.0).ToArray();
        var reference = Resampling.PermutationTest(car, sad, (x, y) => x.Zip(y, (a, b) => a * b).Sum() - 0.8, 500, 11);
        Assert.Equal(reference.PValue, few.Single(r => r.Class == "sad" && r.Category == "car").PValue, 15);
    }

    [Fact]
    public void Dice_and_Jaccard_associations_match_hand_worked_values()
    {
        var m = CorpusStatistics.Presence(Corpus, Classes, Filter);
        var vars = new[] { "happy", "sad", "car", "dog", "person" };
        var dice = CorpusStatistics.Association(m, AssociationMeasure.Dice, vars);
        var jac = CorpusStatistics.Association(m, AssociationMeasure.Jaccard, vars);
        // happy = 11100, person = 11010: 2 shared, 3 + 3 ones → Dice 4/6, Jaccard 2/4.
        Assert.Equal(4.0 / 6, dice.Values[0, 4], 12);
        Assert.Equal(0.5, jac.Values[0, 4], 12);
        // sad = 00011 = car → 1; happy vs car → 0; dog = 10000 vs person: Dice 2/4, Jaccard 1/3.
        Assert.Equal(1.0, dice.Values[1, 2], 12);
        Assert.Equal(0.0, dice.Values[0, 2], 12);
        Assert.Equal(0.5, dice.Values[3, 4], 12);
        Assert.Equal(1.0 / 3, jac.Values[3, 4], 12);
        Assert.Equal(1.0, dice.Values[4, 4], 12);
        // A variable that never occurs (fear) against another that never occurs: undefined.
        var withFear = CorpusStatistics.Association(m, AssociationMeasure.Dice, new[] { "fear", "happy" });
        Assert.True(double.IsNaN(withFear.Values[0, 0]));
        Assert.Equal(0.0, withFear.Values[0, 1]);
    }

    [Fact]
    public void Dice_and_Jaccard_match_scipy_distances()
    {
        var rows = Fx.GetProperty("binary").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        var cats = Enumerable.Range(0, 6).Select(i => $"v{i}").ToArray();
        var images = rows.Select((r, i) => new ImageObservation($"i{i}", 0, 1,
            r.Select((b, k) => (b, k)).Where(t => t.b == 1).Select(t => O(cats[t.k], 1, 1)).ToList())).ToList();
        var m = CorpusStatistics.Presence(images, new[] { "only" }, new CorpusFilter(), cats);
        foreach (var (measure, key) in new[] { (AssociationMeasure.Dice, "dice"), (AssociationMeasure.Jaccard, "jaccard") })
        {
            var a = CorpusStatistics.Association(m, measure, cats);
            var expected = Fx.GetProperty(key).EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) Assert.Equal(expected[i][j], a.Values[i, j], 12);
        }
    }

    [Fact]
    public void Spearman_p_values_and_the_incomplete_beta_match_scipy()
    {
        foreach (var c in Fx.GetProperty("spearman").EnumerateArray())
        {
            var x = c.GetProperty("x").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var y = c.GetProperty("y").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            double rho = Correlation.Spearman(x, y);
            Assert.Equal(c.GetProperty("rho").GetDouble(), rho, 12);
            double p = CorpusStatistics.SpearmanPValue(rho, x.Length);
            Assert.True(Math.Abs(c.GetProperty("p").GetDouble() - p) <= 1e-9 * Math.Max(1e-3, c.GetProperty("p").GetDouble()) + 1e-13, $"n={x.Length}: p {p:R} vs scipy {c.GetProperty("p").GetDouble():R}");
        }
        foreach (var c in Fx.GetProperty("betainc").EnumerateArray())
            Assert.Equal(c.GetProperty("value").GetDouble(),
                SpecialFunctions.RegularizedBeta(c.GetProperty("x").GetDouble(), c.GetProperty("a").GetDouble(), c.GetProperty("b").GetDouble()), 12);
    }

    [Fact]
    public void Method_agreement_is_Spearman_of_the_lower_triangles_skipping_undefined_entries()
    {
        var vars = new[] { "a", "b", "c", "d", "e" };
        // Lower triangles (row-major, row > column): [1, 2, 3, 4, 5, 6, NaN, 7, 8, 9] and [1, 2, 3, 4, 6, 5, 0.5, 7, 8, 9].
        double[,] A(double[] t)
        {
            var v = new double[5, 5];
            int q = 0;
            for (int r = 1; r < 5; r++) for (int c = 0; c < r; c++) v[r, c] = v[c, r] = t[q++];
            return v;
        }
        var a = new AssociationMatrix("dice", vars, A(new[] { 1, 2, 3, 4, 5, 6, double.NaN, 7, 8, 9 }));
        var b = new AssociationMatrix("dice", vars, A(new[] { 1, 2, 3, 4, 6, 5, 0.5, 7, 8, 9 }));
        Assert.Equal(new[] { 1.0, 2, 3, 4, 6, 5, 0.5, 7, 8, 9 }, CorpusStatistics.LowerTriangle(b.Values));
        var ag = CorpusStatistics.Agreement("x", a, "y", b, permutations: 2000, seed: 1);
        // 9 pairs left; one adjacent swap: ρ = 1 − 6·Σd² / (n(n² − 1)) = 1 − 6·2 / (9·80) = 1 − 1/60.
        Assert.Equal(9, ag.Pairs);
        Assert.Equal(1 - 1.0 / 60, ag.Rho, 12);
        double t2 = ag.Rho * ag.Rho * 7 / (1 - ag.Rho * ag.Rho);
        Assert.Equal(SpecialFunctions.RegularizedBeta(7 / (7 + t2), 3.5, 0.5), ag.PValue, 15);
        Assert.InRange(ag.PValue, 1e-9, 1e-4);
        Assert.InRange(ag.PermutationPValue, 1.0 / 2001, 0.002);   // no shuffle of 9 values comes this close to the identity in 2000 draws
        // A constant side has no rank correlation.
        var flat = new AssociationMatrix("dice", vars, A(Enumerable.Repeat(0.3, 10).ToArray()));
        Assert.True(double.IsNaN(CorpusStatistics.Agreement("x", a, "z", flat).Rho));
    }

    [Fact]
    public void Box_measures_on_a_hand_worked_map()
    {
        // 4×4 map, rows top to bottom; maximum 1 at (x 2, y 1).
        float[] map =
        {
            0,   0,   0.5f, 0,
            0,   0.5f, 1,   0,
            0,   0.5f, 0.5f, 0,
            0,   0,   0,    0,
        };
        // Box [1, 1] – [3, 3) covers pixels x 1..2, y 1..2: values 0.5, 1, 0.5, 0.5.
        var s = BoxCam.Measure(map, 4, 4, new DetectedObject(0, "o", 0.9f, 1, 1, 3, 3));
        Assert.Equal(2.5 / 4, s.Importance, 6);
        Assert.Equal(2.5 / 3.0, s.EnergyShare, 6);
        Assert.Equal(4 / 16.0, s.AreaShare, 12);
        Assert.Equal(2.5 / 3.0 / 0.25, s.Ratio, 6);
        Assert.True(s.PointingHit);
        // Pixel centres decide membership: [0.4, 0.4] – [1.6, 1.6) holds the centres 0.5 and 1.5 in x and y (values 0, 0, 0, 0.5).
        var small = BoxCam.Measure(map, 4, 4, new DetectedObject(0, "o", 0.9f, 0.4f, 0.4f, 1.6f, 1.6f));
        Assert.Equal(4 / 16.0, small.AreaShare, 12);
        Assert.Equal(0.5 / 4, small.Importance, 6);
        Assert.False(small.PointingHit);
        // [0.4, 0.4] – [1.6, 1.4): the row-1 centres (y 1.5) fall outside.
        Assert.Equal(2 / 16.0, BoxCam.Measure(map, 4, 4, new DetectedObject(0, "o", 0.9f, 0.4f, 0.4f, 1.6f, 1.4f)).AreaShare, 12);
        // Grown by 1.5 px the box reaches the maximum's centre (2.5, 1.5).
        Assert.True(BoxCam.Measure(map, 4, 4, new DetectedObject(0, "o", 0.9f, 0.4f, 0.4f, 1.6f, 1.6f), pointingTolerance: 1.5).PointingHit);
    }

    [Fact]
    public void Maps_are_carried_to_original_pixels_through_stretch_and_letterbox_placements()
    {
        var map = Enumerable.Range(0, 16).Select(i => (float)i).ToArray();   // 4×4, value = 4y + x
        // Identity placement returns the map.
        Assert.Equal(map, BoxCam.ToOriginal(map, 4, 4, new InputPlacement(1, 1, 0, 0, 4, 4)));
        // Stretch 4×4 → original 2×2 (scale 2 = input/original): pixel centre x 0.5 → input 0.5 = mean of columns 0 and 1.
        var down = BoxCam.ToOriginal(map, 4, 4, new InputPlacement(2, 2, 0, 0, 2, 2));
        Assert.Equal(new[] { 2.5f, 4.5f, 10.5f, 12.5f }, down);
        // Letterbox: a 4×2 original placed at scale 1 with one padded row above and below → rows 1 and 2 of the input.
        var lb = BoxCam.ToOriginal(map, 4, 4, new InputPlacement(1, 1, 0, 1, 4, 2));
        Assert.Equal(map.Skip(4).Take(8).ToArray(), lb);
        // Upsampling 2×2 → 4×4 (scale 0.5): x centre 0.5 → input −0.25 clamps to 0; 1.5 → 0.25 = 0.75·v0 + 0.25·v1.
        var up = BoxCam.ToOriginal(new float[] { 0, 4, 8, 12 }, 2, 2, new InputPlacement(0.5, 0.5, 0, 0, 4, 4));
        Assert.Equal(new[] { 0f, 1, 3, 4 }, up.Take(4).ToArray());
        Assert.Equal(new[] { 2f, 3, 5, 6 }, up.Skip(4).Take(4).ToArray());
    }

    [Fact]
    public void Permutation_results_depend_only_on_the_seed()
    {
        var m = CorpusStatistics.Presence(Corpus, Classes, Filter);
        var a = CorpusStatistics.ClassCategoryTable(m, permutations: 50, seed: 9);
        var b = CorpusStatistics.ClassCategoryTable(m, permutations: 50, seed: 9);
        var c = CorpusStatistics.ClassCategoryTable(m, permutations: 50, seed: 10);
        Assert.Equal(a.Select(r => r.PValue), b.Select(r => r.PValue));
        Assert.NotEqual(a.Select(r => r.PValue), c.Select(r => r.PValue));
        Assert.Equal(CorpusExplainer.MixSeed(1, "img", "remove:person:noise"), CorpusExplainer.MixSeed(1, "img", "remove:person:noise"));
        Assert.NotEqual(CorpusExplainer.MixSeed(1, "img", "remove:person:noise"), CorpusExplainer.MixSeed(2, "img", "remove:person:noise"));
    }

    [Fact]
    public void Image_lists_come_from_a_folder_a_manifest_or_paths_with_unique_file_safe_ids()
    {
        var dir = Path.Combine(Path.GetTempPath(), "layerlens-corpus-list-" + Guid.NewGuid().ToString("N")[..8]);
        var sub = Path.Combine(dir, "sub");
        Directory.CreateDirectory(sub);
        try
        {
            var png = LayerLens.Images.ImageEncoder.Encode(new LayerLens.Images.RgbImage(2, 2, new byte[12]), LayerLens.Images.ImageFormat.Png);
            foreach (var f in new[] { "b.png", "a b.png", "notes.txt" }) File.WriteAllBytes(Path.Combine(dir, f), png);
            File.WriteAllBytes(Path.Combine(sub, "b.png"), png);
            Assert.Equal(new[] { "a_b", "b" }, CorpusImages.Resolve(new[] { dir }).Select(i => i.Id));
            var manifest = Path.Combine(dir, "list.csv");
            File.WriteAllLines(manifest, new[] { "id,path", "# comment", "x,b.png", "sub/b.png", "b.png" });
            var listed = CorpusImages.Resolve(new[] { manifest });
            Assert.Equal(new[] { "x", "b", "b_2" }, listed.Select(i => i.Id));
            Assert.Equal(Path.Combine(sub, "b.png"), listed[1].Path);
            Assert.Equal(new[] { "b", "b_2" }, CorpusImages.Resolve(new[] { Path.Combine(dir, "b.png"), Path.Combine(sub, "b.png") }).Select(i => i.Id));
            File.WriteAllLines(manifest, new[] { "missing.png" });
            Assert.Contains("list.csv:1", Assert.Throws<LayerLensException>(() => CorpusImages.Resolve(new[] { manifest })).Message);
            Assert.Equal(ErrorKind.BadInput, Assert.Throws<LayerLensException>(() => CorpusImages.Resolve(new[] { sub + "-none" })).Kind);
        }
        finally { Directory.Delete(dir, true); }
    }
}
