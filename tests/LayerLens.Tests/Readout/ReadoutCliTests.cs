using LayerLens.IO;
using static TorchSharp.torch;

namespace LayerLens.Tests.Readout;

/// <summary>`layerlens readout` / `layerlens brain` end to end on small generated data, including the one-line bad-input errors.</summary>
public class ReadoutCliTests
{
    static readonly string Brain = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Brain");

    /// <summary>Writes features.npy [n, d], ids.txt and targets.csv where score = features · w + noise.</summary>
    static string Make(int n = 120, int d = 8, double noise = 0.3, Func<int, string>? score = null, int seed = 0)
    {
        var dir = Directory.CreateTempSubdirectory("readout-cli").FullName;
        manual_seed(seed);
        using var x = randn(n, d, dtype: ScalarType.Float64);
        using var w = randn(d, dtype: ScalarType.Float64);
        using var y = x.mv(w) + noise * randn(n, dtype: ScalarType.Float64);
        Npy.Write(Path.Combine(dir, "features.npy"), x.to_type(ScalarType.Float32));
        File.WriteAllLines(Path.Combine(dir, "ids.txt"), Enumerable.Range(0, n).Select(i => $"img{i}"));
        var ys = y.data<double>().ToArray();
        File.WriteAllLines(Path.Combine(dir, "targets.csv"), new[] { "image,score,fold" }.Concat(Enumerable.Range(0, n).Select(i =>
            $"img{i},{score?.Invoke(i) ?? ys[i].ToString("R", System.Globalization.CultureInfo.InvariantCulture)},{i % 4}")));
        return dir;
    }

    static string[] Args(string dir, params string[] extra) => new[] { "readout", "--features", Path.Combine(dir, "features.npy"), "--ids", Path.Combine(dir, "ids.txt"),
        "--targets", Path.Combine(dir, "targets.csv"), "--id-column", "image", "--target-column", "score", "--out", Path.Combine(dir, "out.csv") }.Concat(extra).ToArray();

    [Fact]
    public void Readout_of_a_planted_linear_score_is_near_perfect_and_writes_one_row_per_metric()
    {
        var dir = Make();
        var r = TestPaths.Cli(Args(dir, "--cv", "kfold:5"));
        Assert.True(r.Code == 0, r.Err);
        var lines = File.ReadAllLines(Path.Combine(dir, "out.csv"));
        Assert.Equal(5, lines.Length);
        var spearman = lines.Single(l => l.Contains(",spearman,")).Split(',');
        Assert.True(double.Parse(spearman[7], System.Globalization.CultureInfo.InvariantCulture) > 0.9, lines[1]);
        Assert.Equal(5, spearman[11].Split(';').Length);
        var pls = TestPaths.Cli(Args(dir, "--model", "pls", "--cv", "column:fold"));
        Assert.True(pls.Code == 0, pls.Err);
    }

    [Fact]
    public void Ids_missing_from_the_features_are_a_one_line_error_listing_them()
    {
        var dir = Make();
        File.WriteAllLines(Path.Combine(dir, "ids.txt"), Enumerable.Range(0, 120).Select(i => i == 5 ? "other" : $"img{i}"));
        var r = TestPaths.Cli(Args(dir));
        Assert.Equal(2, r.Code);
        Assert.Contains("img5", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
    }

    [Fact]
    public void NaN_scores_are_an_error_unless_dropped_explicitly_and_counted()
    {
        var dir = Make(score: i => i == 7 ? "nan" : (i * 0.37 % 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var r = TestPaths.Cli(Args(dir));
        Assert.Equal(2, r.Code);
        Assert.Contains(":9:", r.Err); // header is line 1, img7 is line 9
        var ok = TestPaths.Cli(Args(dir, "--drop-missing"));
        Assert.True(ok.Code == 0, ok.Err);
        Assert.Contains("dropped 1 rows", ok.Out);
        Assert.DoesNotContain("NaN", File.ReadAllText(Path.Combine(dir, "out.csv")));
    }

    [Fact]
    public void Fewer_samples_than_folds_and_a_constant_target_are_errors()
    {
        var few = Make(n: 4);
        var r = TestPaths.Cli(Args(few, "--cv", "kfold:5"));
        Assert.Equal(2, r.Code);
        Assert.Contains("fewer than the 5 folds", r.Err);
        var constant = Make(score: _ => "0.5");
        var c = TestPaths.Cli(Args(constant));
        Assert.Equal(2, c.Code);
        Assert.Contains("constant target", c.Err);
    }

    [Fact]
    public void Brain_command_reports_raw_ceiling_and_ceiled_and_rejects_an_empty_region()
    {
        var dir = Directory.CreateTempSubdirectory("brain-cli").FullName;
        var baseArgs = new[] { "brain", "--features", Path.Combine(Brain, "features.npy"), "--ids", Path.Combine(Brain, "feature_ids.txt"), "--neural", Path.Combine(Brain, "folder") };
        var r = TestPaths.Cli(baseArgs.Concat(new[] { "--region", "IT", "--out", Path.Combine(dir, "b.csv") }).ToArray());
        Assert.True(r.Code == 0, r.Err);
        var lines = File.ReadAllLines(Path.Combine(dir, "b.csv"));
        Assert.StartsWith("layer,op,depth_index,relative_depth,region,metric,raw,raw_error,ceiling,ceiled", lines[0]);
        var f = lines[1].Split(',');
        double raw = double.Parse(f[6], System.Globalization.CultureInfo.InvariantCulture), ceiling = double.Parse(f[8], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(raw / ceiling, double.Parse(f[9], System.Globalization.CultureInfo.InvariantCulture), 12);
        var e = TestPaths.Cli(baseArgs.Concat(new[] { "--region", "V1", "--out", Path.Combine(dir, "c.csv") }).ToArray());
        Assert.Equal(2, e.Code);
        Assert.Contains("region 'V1' has no neuroids", e.Err);
        Assert.False(File.Exists(Path.Combine(dir, "c.csv")));
    }
}
