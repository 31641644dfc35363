using System.Xml.Linq;
using LayerLens.Reports;
using SkiaSharp;

namespace LayerLens.Tests.Reports;

public class LineChartTests
{
    static int PixelsNear(SKBitmap bmp, int r, int g, int b)
    {
        int n = 0;
        for (int y = 0; y < bmp.Height; y++)
            for (int x = 0; x < bmp.Width; x++)
            {
                var c = bmp.GetPixel(x, y);
                if (Math.Abs(c.Red - r) < 12 && Math.Abs(c.Green - g) < 12 && Math.Abs(c.Blue - b) < 12) n++;
            }
        return n;
    }

    [Fact]
    public void Line_chart_draws_both_series_and_labels_the_second_y_axis()
    {
        var x = new[] { 1.0, 2, 3, 4 };
        var chart = Charts.Lines("Fine-tuning demo", "epoch", "training loss",
            new[] { new ChartSeries("training loss", x, new[] { 2.0, 1.1, 0.7, 0.5 }) },
            "validation spearman", new[] { new ChartSeries("validation spearman", x, new[] { 0.2, 0.5, 0.7, double.NaN }) });
        using var bmp = SKBitmap.Decode(chart.Png);
        Assert.Equal(Charts.DefaultWidth, bmp.Width);
        // Category10: blue #1f77b4 for the loss, orange #ff7f0e for the score on the right axis.
        Assert.True(PixelsNear(bmp, 0x1f, 0x77, 0xb4) > 100, "the loss curve was not drawn");
        Assert.True(PixelsNear(bmp, 0xff, 0x7f, 0x0e) > 100, "the validation curve was not drawn");
        Assert.Equal("svg", XDocument.Parse(chart.Svg).Root!.Name.LocalName);
        Assert.Contains("validation spearman", chart.Svg);
        Assert.Contains("training loss", chart.Svg);
        var dir = TestPaths.NewTempDir();
        var (png, svg) = chart.Save(Path.Combine(dir, "curves"));
        Assert.True(File.Exists(png) && File.Exists(svg));
    }
}
