using LayerLens.IO;
using ScottPlot;

namespace LayerLens.Reports;

/// <summary>A rendered chart: PNG bytes and SVG text of the same plot.</summary>
public sealed record ChartImage(string Title, byte[] Png, string Svg)
{
    /// <summary>Writes <c>BASE.png</c> and <c>BASE.svg</c> atomically; returns the two paths.</summary>
    public (string Png, string Svg) Save(string basePath)
    {
        var png = basePath + ".png";
        var svg = basePath + ".svg";
        AtomicFile.WriteAllBytes(png, Png);
        AtomicFile.WriteAllText(svg, Svg);
        return (png, svg);
    }
}

/// <summary>One named group of points in a scatter or line chart.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>
/// Charts drawn with ScottPlot (PNG and SVG from the same plot). Text uses a bundled DejaVu Sans, so charts render
/// the same on a bare container as on a desktop.
/// </summary>
public static class Charts
{
    public const int DefaultWidth = 720, DefaultHeight = 480;
    static readonly object FontLock = new();
    static bool _fontsReady;

    /// <summary>Makes ScottPlot draw text with the bundled DejaVu Sans.</summary>
    public static void EnsureFonts()
    {
        lock (FontLock)
        {
            if (_fontsReady) return;
            const string family = "LayerLens DejaVu Sans";
            var dir = Path.Combine(Path.GetTempPath(), $"layerlens-fonts-{Environment.UserName}");
            foreach (var (file, bold) in new[] { ("DejaVuSans.ttf", false), ("DejaVuSans-Bold.ttf", true) })
            {
                var path = Path.Combine(dir, file);
                if (!File.Exists(path))
                {
                    using var res = typeof(Charts).Assembly.GetManifestResourceStream("LayerLens.Reports.Fonts." + file)
                        ?? throw new LayerLensException($"the bundled chart font {file} is missing from the LayerLens assembly", ErrorKind.Internal);
                    using var ms = new MemoryStream();
                    res.CopyTo(ms);
                    AtomicFile.WriteAllBytes(path, ms.ToArray());
                }
                // Always the bundled face: charts then look the same (and carry their labels) on every machine,
                // with or without fonts installed.
                Fonts.AddFontFile(family, path, bold: bold, italic: false);
            }
            Fonts.Default = family;
            Fonts.Sans = family;
            _fontsReady = true;
        }
    }

    static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        EnsureFonts();
        var plt = new Plot();
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        return plt;
    }

    static ChartImage Render(Plot plt, string title, int width, int height) =>
        new(title, plt.GetImageBytes(width, height, ImageFormat.Png), plt.GetSvgXml(width, height));

    /// <summary>
    /// Scatter chart, a colour per series; <paramref name="connect"/> joins each series' points in the given order
    /// (for curves against depth). Points with a NaN coordinate are left out.
    /// </summary>
    public static ChartImage Scatter(string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series,
        bool connect = false, int width = DefaultWidth, int height = DefaultHeight, (double Min, double Max)? yRange = null)
    {
        var plt = NewPlot(title, xLabel, yLabel);
        var palette = new ScottPlot.Palettes.Category10();
        for (int s = 0; s < series.Count; s++)
            AddSeries(plt, series[s], palette.GetColor(s), connect ? 1.5f : 0, connect ? 4 : 6);
        if (series.Count > 1) plt.ShowLegend(Alignment.LowerRight);
        if (yRange is { } r) plt.Axes.SetLimitsY(r.Min, r.Max);
        return Render(plt, title, width, height);
    }

    /// <summary>One series as joined markers, leaving out points with a NaN or infinite coordinate; null when none is left.</summary>
    static ScottPlot.Plottables.Scatter? AddSeries(Plot plt, ChartSeries ser, ScottPlot.Color color, float lineWidth, float markerSize)
    {
        var pts = ser.X.Zip(ser.Y).Where(p => double.IsFinite(p.First) && double.IsFinite(p.Second)).ToArray();
        if (pts.Length == 0) return null;
        var sc = plt.Add.Scatter(pts.Select(p => p.First).ToArray(), pts.Select(p => p.Second).ToArray(), color);
        sc.LegendText = ser.Name;
        sc.LineWidth = lineWidth;
        sc.MarkerSize = markerSize;
        return sc;
    }

    /// <summary>
    /// Line chart: each series' points joined in the given order, with markers. Series in <paramref name="right"/> are
    /// drawn against a second y axis on the right labelled <paramref name="rightLabel"/> (for two quantities on different
    /// scales, such as training loss and a validation score per epoch). Points with a NaN coordinate are left out.
    /// </summary>
    public static ChartImage Lines(string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series,
        string? rightLabel = null, IReadOnlyList<ChartSeries>? right = null, int width = DefaultWidth, int height = DefaultHeight)
    {
        var plt = NewPlot(title, xLabel, yLabel);
        var palette = new ScottPlot.Palettes.Category10();
        var all = series.Select(s => (Series: s, Right: false)).Concat((right ?? Array.Empty<ChartSeries>()).Select(s => (Series: s, Right: true))).ToList();
        for (int s = 0; s < all.Count; s++)
        {
            var (ser, onRight) = all[s];
            var line = AddSeries(plt, ser, palette.GetColor(s), 2, 5);
            if (onRight && line != null) line.Axes.YAxis = plt.Axes.Right;
        }
        if (right is { Count: > 0 }) plt.Axes.Right.Label.Text = rightLabel ?? "";
        if (all.Count > 1) plt.ShowLegend(Alignment.UpperRight);
        return Render(plt, title, width, height);
    }

    /// <summary>Heat map of a matrix with labelled rows and columns and a colour bar.</summary>
    public static ChartImage Heatmap(string title, IReadOnlyList<string> rowLabels, IReadOnlyList<string> columnLabels,
        double[,] values, int width = DefaultWidth, int height = DefaultHeight)
    {
        if (values.GetLength(0) != rowLabels.Count || values.GetLength(1) != columnLabels.Count)
            throw new LayerLensException($"heat map '{title}' has a {values.GetLength(0)}×{values.GetLength(1)} matrix for {rowLabels.Count} row and {columnLabels.Count} column labels", ErrorKind.Internal);
        var plt = NewPlot(title, "", "");
        var hm = plt.Add.Heatmap(values);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        plt.Add.ColorBar(hm);
        int rows = rowLabels.Count, cols = columnLabels.Count;
        plt.Axes.Bottom.SetTicks(Enumerable.Range(0, cols).Select(i => (double)i).ToArray(), columnLabels.ToArray());
        plt.Axes.Bottom.TickLabelStyle.Rotation = cols > 6 ? 45 : 0;
        plt.Axes.Bottom.TickLabelStyle.Alignment = cols > 6 ? Alignment.MiddleLeft : Alignment.UpperCenter;
        // Heatmap row 0 is drawn at the top.
        plt.Axes.Left.SetTicks(Enumerable.Range(0, rows).Select(i => (double)(rows - 1 - i)).ToArray(), rowLabels.ToArray());
        return Render(plt, title, width, height);
    }

    /// <summary>Vertical bar chart with labelled bars and optional symmetric error bars.</summary>
    public static ChartImage Bars(string title, string yLabel, IReadOnlyList<string> labels, IReadOnlyList<double> values,
        IReadOnlyList<double>? errors = null, int width = DefaultWidth, int height = DefaultHeight)
    {
        var plt = NewPlot(title, "", yLabel);
        var bars = new List<Bar>();
        for (int i = 0; i < values.Count; i++)
            bars.Add(new Bar { Position = i, Value = double.IsFinite(values[i]) ? values[i] : 0, Error = errors != null && double.IsFinite(errors[i]) ? errors[i] : 0 });
        foreach (var b in bars) b.FillColor = new ScottPlot.Palettes.Category10().GetColor(0);
        plt.Add.Bars(bars);
        plt.Axes.Bottom.SetTicks(Enumerable.Range(0, labels.Count).Select(i => (double)i).ToArray(), labels.ToArray());
        if (labels.Count > 6) plt.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plt.Axes.Margins(bottom: 0);
        return Render(plt, title, width, height);
    }
}
