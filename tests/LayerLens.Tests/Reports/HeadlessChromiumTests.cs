using LayerLens.Reports;
using SkiaSharp;
using Xunit;

namespace LayerLens.Tests.Reports;

/// <summary>The report check itself must be able to fail: a broken image, an empty section and a console error are each caught.</summary>
public class HeadlessChromiumTests
{
    [Fact]
    public void Chromium_check_passes_a_good_report_and_catches_broken_images_empty_sections_and_failed_loads()
    {
        var dir = TestPaths.NewTempDir();
        var good = new HtmlReport("good");
        good.Section("Plot").Chart(Charts.Bars("b", "v", new[] { "x", "y" }, new[] { 1.0, 2.0 }));
        good.Section("Text").Paragraph("hello");
        var goodPath = Path.Combine(dir, "good.html");
        good.Save(goodPath);
        var ok = HeadlessChromium.Check(goodPath);
        Assert.Empty(ok.ConsoleErrors);
        Assert.Empty(ok.BrokenImages);
        Assert.Empty(ok.EmptySections);
        Assert.Equal(1, ok.Images);
        Assert.Equal(2, ok.Sections);
        File.WriteAllBytes(Path.Combine(dir, "good.png"), ok.Screenshot); // kept for a look when the test fails
        using (var bmp = SKBitmap.Decode(ok.Screenshot)) Assert.Equal(1200, bmp.Width);

        var bad = new HtmlReport("bad");
        bad.Section("Broken").Image(new byte[] { 1, 2, 3 }, "image/png", "not a png", "broken-one");
        bad.Section("Empty");
        bad.Section("Missing file").Raw("<img alt=\"missing\" src=\"does-not-exist.png\"/>");
        var badPath = Path.Combine(dir, "bad.html");
        bad.Save(badPath);
        var caught = HeadlessChromium.Check(badPath);
        Assert.Contains("broken-one", caught.BrokenImages);
        Assert.Contains("missing", caught.BrokenImages);
        Assert.Contains(caught.EmptySections, s => s.StartsWith("Empty"));
        Assert.Contains(caught.ConsoleErrors, e => e.Contains("does-not-exist.png") || e.Contains("ERR_FILE_NOT_FOUND"));
    }
}
