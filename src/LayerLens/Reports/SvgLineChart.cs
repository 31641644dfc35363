using System.Globalization;
using System.Net;
using System.Text;

namespace LayerLens.Reports;

/// <summary>
/// A small self-contained SVG line chart (no scripts, fonts or external files), for curves such as training
/// loss and validation score per epoch. Each series gets its own y range, drawn in its own panel.
/// </summary>
public static class SvgLineChart
{
    static readonly string[] Colours = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd" };

    public static string Render(string title, string xLabel, IReadOnlyList<(string Name, IReadOnlyList<(double X, double Y)> Points)> series)
    {
        const int panelW = 420, panelH = 220, margin = 50;
        int width = series.Count * (panelW + margin) + margin;
        int height = panelH + 2 * margin + 20;
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(inv, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n<text x=\"{margin}\" y=\"22\" font-size=\"15\">{Esc(title)}</text>\n");
        for (int s = 0; s < series.Count; s++)
        {
            var (name, points) = series[s];
            var finite = points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
            int x0 = margin + s * (panelW + margin), y0 = margin + 10;
            sb.Append(inv, $"<rect x=\"{x0}\" y=\"{y0}\" width=\"{panelW}\" height=\"{panelH}\" fill=\"none\" stroke=\"#888\"/>\n");
            sb.Append(inv, $"<text x=\"{x0}\" y=\"{y0 - 6}\" fill=\"{Colours[s % Colours.Length]}\">{Esc(name)}</text>\n");
            sb.Append(inv, $"<text x=\"{x0 + panelW / 2}\" y=\"{y0 + panelH + 32}\" text-anchor=\"middle\">{Esc(xLabel)}</text>\n");
            if (finite.Count == 0) continue;
            double xmin = finite.Min(p => p.X), xmax = finite.Max(p => p.X);
            double ymin = finite.Min(p => p.Y), ymax = finite.Max(p => p.Y);
            if (xmax == xmin) { xmin -= 1; xmax += 1; }
            if (ymax == ymin) { ymin -= 1; ymax += 1; }
            double pad = (ymax - ymin) * 0.05;
            ymin -= pad; ymax += pad;
            string Px(double x) => (x0 + (x - xmin) / (xmax - xmin) * panelW).ToString("0.0", inv);
            string Py(double y) => (y0 + panelH - (y - ymin) / (ymax - ymin) * panelH).ToString("0.0", inv);
            foreach (var t in new[] { ymin + pad, (ymin + ymax) / 2, ymax - pad })
                sb.Append(inv, $"<text x=\"{x0 - 4}\" y=\"{Py(t)}\" text-anchor=\"end\" dominant-baseline=\"middle\">{t.ToString("G4", inv)}</text>\n");
            sb.Append(inv, $"<text x=\"{x0}\" y=\"{y0 + panelH + 16}\">{xmin.ToString("G4", inv)}</text><text x=\"{x0 + panelW}\" y=\"{y0 + panelH + 16}\" text-anchor=\"end\">{xmax.ToString("G4", inv)}</text>\n");
            sb.Append(inv, $"<polyline fill=\"none\" stroke=\"{Colours[s % Colours.Length]}\" stroke-width=\"2\" points=\"{string.Join(" ", finite.Select(p => Px(p.X) + "," + Py(p.Y)))}\"/>\n");
            foreach (var p in finite)
                sb.Append(inv, $"<circle cx=\"{Px(p.X)}\" cy=\"{Py(p.Y)}\" r=\"3\" fill=\"{Colours[s % Colours.Length]}\"/>\n");
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    static string Esc(string s) => WebUtility.HtmlEncode(s);
}
