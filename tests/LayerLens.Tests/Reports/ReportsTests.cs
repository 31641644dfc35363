using System.Text.RegularExpressions;
using System.Xml.Linq;
using LayerLens.Reports;
using SkiaSharp;
using Xunit;

namespace LayerLens.Tests.Reports;

public class ReportsTests
{
    static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "ll-reports-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    static TidyTable Sample()
    {
        var t = new TidyTable(("model", ColumnKind.Text), ("layer", ColumnKind.Text), ("value", ColumnKind.Number), ("n", ColumnKind.Integer));
        t.Add("resnet18", "layer1.0/conv1", 0.25, 100);
        t.Add("alex,net", "fc \"7\"", double.NaN, 3);
        t.Add("vgg", "x", null, 0);
        return t;
    }

    [Fact]
    public void Tidy_table_round_trips_through_parquet_with_types_and_missing_values()
    {
        var dir = TempDir();
        var path = Path.Combine(dir, "t.parquet");
        Sample().WriteParquet(path);
        var back = TidyTable.ReadParquet(path);
        Assert.Equal(new[] { "model", "layer", "value", "n" }, back.Columns.Select(c => c.Name));
        Assert.Equal(new[] { ColumnKind.Text, ColumnKind.Text, ColumnKind.Number, ColumnKind.Integer }, back.Columns.Select(c => c.Kind));
        Assert.Equal(3, back.RowCount);
        Assert.Equal("fc \"7\"", back.Text(1, "layer"));
        Assert.Equal(0.25, back.Number(0, "value"));
        Assert.True(double.IsNaN(back.Number(1, "value")));
        Assert.Equal(100L, back.Rows[0][3]);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void Tidy_table_csv_quotes_commas_and_quotes_and_leaves_missing_numbers_empty()
    {
        var csv = Sample().ToCsv().Split('\n');
        Assert.Equal("model,layer,value,n", csv[0]);
        Assert.Equal("resnet18,layer1.0/conv1,0.25,100", csv[1]);
        Assert.Equal("\"alex,net\",\"fc \"\"7\"\"\",,3", csv[2]);
    }

    [Fact]
    public void Scatter_chart_renders_a_decodable_png_with_drawn_points_and_a_well_formed_svg()
    {
        var chart = Charts.Scatter("accuracy vs depth", "relative depth", "Spearman ρ", new[]
        {
            new ChartSeries("a", new[] { 0.0, 0.5, 1.0 }, new[] { 0.1, 0.4, 0.3 }),
            new ChartSeries("b", new[] { 0.0, 0.5, double.NaN }, new[] { 0.2, 0.1, 0.9 }),
        }, connect: true);
        using var bmp = SKBitmap.Decode(chart.Png);
        Assert.Equal(Charts.DefaultWidth, bmp.Width);
        Assert.Equal(Charts.DefaultHeight, bmp.Height);
        // The first series colour (Category10 blue, #1f77b4) must appear: the points were drawn.
        int blue = 0;
        for (int y = 0; y < bmp.Height; y++)
            for (int x = 0; x < bmp.Width; x++)
            {
                var c = bmp.GetPixel(x, y);
                if (Math.Abs(c.Red - 0x1f) < 12 && Math.Abs(c.Green - 0x77) < 12 && Math.Abs(c.Blue - 0xb4) < 12) blue++;
            }
        Assert.True(blue > 50, $"only {blue} pixels of the first series' colour");
        var svg = XDocument.Parse(chart.Svg);
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        Assert.Contains("relative depth", chart.Svg);
    }

    [Fact]
    public void Heatmap_rejects_a_matrix_that_does_not_match_its_labels()
    {
        var ex = Assert.Throws<LayerLensException>(() => Charts.Heatmap("h", new[] { "a" }, new[] { "x", "y" }, new double[2, 2]));
        Assert.Contains("2×2", ex.Message);
        var ok = Charts.Heatmap("h", new[] { "a", "b" }, new[] { "x", "y" }, new double[,] { { 0, 1 }, { 1, 0 } });
        Assert.NotNull(SKBitmap.Decode(ok.Png));
    }

    [Fact]
    public void Html_report_is_self_contained_and_escapes_user_text()
    {
        var r = new HtmlReport("Sweep <1>");
        r.Section("Tables", synthetic: true).Table(Sample(), caption: "results");
        r.Section("Plots").Chart(Charts.Bars("b", "value", new[] { "x", "y" }, new[] { 1.0, 2.0 }, new[] { 0.1, 0.2 }));
        var html = r.Render();
        Assert.Contains("Sweep &lt;1&gt;", html);
        Assert.Contains("alex,net", html);
        Assert.Contains("class=\"synthetic\"", html);
        Assert.Contains("src=\"data:image/png;base64,", html);
        Assert.DoesNotMatch(new Regex("<script|<link|src=\"(?!data:)|url\\(", RegexOptions.IgnoreCase), html);
        Assert.Equal(2, Regex.Matches(html, "<section").Count);
        Assert.Equal(2, Regex.Matches(html, "</section>").Count);
    }
}
