using System.Text.RegularExpressions;
using LayerLens.Cli;
using LayerLens.Demo;
using LayerLens.Tests.Reports;
using Xunit;

namespace LayerLens.Tests.Demo;

/// <summary>
/// The demo end to end on the real zoo models (emotion, nanodet), at a reduced size: its report must render in headless
/// Chromium without console errors, broken images or empty sections, load nothing from outside, label the synthetic
/// parts, and the sweep must find the layer the synthetic IT responses were generated from.
/// </summary>
public class DemoTests
{
    [Fact]
    public void Demo_runs_the_three_studies_and_its_report_renders_cleanly()
    {
        var dir = TestPaths.NewTempDir();
        var summary = DemoRunner.Run(new DemoOptions
        {
            OutputDir = dir,
            PhotosDir = Path.Combine(TestPaths.Fixtures, "Photos"),
            Images = 60,
            QualityLevels = new[] { 1, 5 },
            CamMethods = new[] { "gradcam", "eigencam" },
        });

        // (a) The generating layer (or its immediate neighbour) is where IT similarity peaks in the generating network.
        var generator = summary.Sweep.BestLayers.Single(b => b.Model == "emotion" && b.Target == "IT-synthetic");
        Assert.True(generator.Layer == summary.GeneratorLayer || Math.Abs(generator.RelativeDepth - DepthOf(summary, summary.GeneratorLayer)) <= 0.11,
            $"best IT layer {generator.Layer} (depth {generator.RelativeDepth}) is far from the generating layer {summary.GeneratorLayer}");
        Assert.Contains(summary.Sweep.BestLayers, b => b.Model == "nanodet" && b.Target == "memorability-synthetic");
        Assert.True(File.Exists(summary.Sweep.ResultsParquet));
        Assert.Contains("SYNTHETIC", File.ReadAllText(Path.Combine(dir, "data", "neural-it", "GENERATED.txt")));
        // (b) Baselines and both networks' layers are in the quality table.
        var models = Enumerable.Range(0, summary.Quality.Table.RowCount).Select(i => summary.Quality.Table.Text(i, "model")).ToHashSet();
        Assert.Contains("emotion", models);
        Assert.Contains("nanodet", models);
        var pooled = LayerLens.Demo.DemoReport.PooledSummary(summary.Quality.Table);
        var baselines = Enumerable.Range(0, pooled.RowCount).Where(i => pooled.Text(i, "role") == "baseline").Select(i => pooled.Text(i, "readout")).ToHashSet();
        Assert.Superset(new HashSet<string> { "psnr", "ssim", "ms-ssim" }, baselines);
        // (c) Every photograph explained by both methods, with maps on disk.
        Assert.Equal(4, summary.Explanations.Images.Count);
        Assert.All(summary.Explanations.Images, i => Assert.Equal(2, i.MapPaths.Count(kv => File.Exists(kv.Value))));

        var html = File.ReadAllText(summary.ReportPath);
        Assert.DoesNotMatch(new Regex("<script|<link|@import|(src|href)=\"https?:|url\\(\\s*['\"]?https?:", RegexOptions.IgnoreCase), html);
        Assert.True(Regex.Matches(html, "class=\"synthetic\"").Count >= 2, "parts (a) and (b) must be labelled synthetic");
        var page = HeadlessChromium.Check(summary.ReportPath);
        File.WriteAllBytes(Path.Combine(dir, "report.png"), page.Screenshot);
        Assert.Empty(page.ConsoleErrors);
        Assert.Empty(page.BrokenImages);
        Assert.Empty(page.EmptySections);
        Assert.Equal(4, page.Sections);
        Assert.True(page.Images >= 8, $"only {page.Images} images in the report");
    }

    static double DepthOf(DemoSummary s, string layer)
    {
        var t = s.Sweep.Results;
        for (int i = 0; i < t.RowCount; i++)
            if (t.Text(i, "model") == "emotion" && t.Text(i, "layer") == layer) return t.Number(i, "relative_depth");
        throw new InvalidOperationException($"generating layer {layer} is not in the sweep table");
    }

    [Fact]
    public void Demo_rejects_too_few_images_as_a_usage_error()
    {
        var err = new StringWriter();
        Assert.Equal(1, CliApp.Run(new[] { "demo", "--images", "10", "--out", TestPaths.NewTempDir() }, new StringWriter(), err));
        Assert.Contains("--images", err.ToString());
    }
}
