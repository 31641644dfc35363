using System.Globalization;
using System.Net;
using System.Text;
using LayerLens.IO;

namespace LayerLens.Reports;

/// <summary>
/// A self-contained HTML report: inline styles, images embedded as data URIs or inline SVG, no scripts, no
/// external fonts or files, so it can be mailed or archived as one file and opened offline.
/// </summary>
public sealed class HtmlReport
{
    readonly string _title;
    readonly StringBuilder _body = new();
    readonly List<(string Id, string Title)> _toc = new();
    int _openSections;

    public HtmlReport(string title) => _title = title;

    static string E(string s) => WebUtility.HtmlEncode(s);

    /// <summary>Starts a top-level section (closing the previous one); it is listed in the table of contents.</summary>
    public HtmlReport Section(string title, bool synthetic = false)
    {
        CloseSections();
        var id = "s" + (_toc.Count + 1).ToString(CultureInfo.InvariantCulture);
        _toc.Add((id, title));
        _body.Append($"<section id=\"{id}\"><h2>{E(title)}{(synthetic ? SyntheticBadge : "")}</h2>\n");
        _openSections = 1;
        return this;
    }

    /// <summary>A sub-heading inside the current section.</summary>
    public HtmlReport Heading(string text, bool synthetic = false)
    {
        _body.Append($"<h3>{E(text)}{(synthetic ? SyntheticBadge : "")}</h3>\n");
        return this;
    }

    const string SyntheticBadge = " <span class=\"synthetic\" title=\"generated data, not real measurements\">synthetic</span>";

    public HtmlReport Paragraph(string text)
    {
        _body.Append($"<p>{E(text)}</p>\n");
        return this;
    }

    /// <summary>Monospaced block, for the command that produced a result.</summary>
    public HtmlReport Code(string text)
    {
        _body.Append($"<pre>{E(text)}</pre>\n");
        return this;
    }

    /// <summary>Key/value facts (seeds, versions, counts) as a small definition table.</summary>
    public HtmlReport Facts(IEnumerable<(string Key, string Value)> facts)
    {
        _body.Append("<table class=\"facts\">");
        foreach (var (k, v) in facts) _body.Append($"<tr><th>{E(k)}</th><td>{E(v)}</td></tr>");
        _body.Append("</table>\n");
        return this;
    }

    /// <summary>A table; numbers are shown with <paramref name="digits"/> significant digits. Long tables are cut at <paramref name="maxRows"/> with a note.</summary>
    public HtmlReport Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows, string? caption = null, int maxRows = 200, int digits = 4)
    {
        _body.Append("<div class=\"tablewrap\"><table>");
        if (caption != null) _body.Append($"<caption>{E(caption)}</caption>");
        _body.Append("<thead><tr>");
        foreach (var h in header) _body.Append($"<th>{E(h)}</th>");
        _body.Append("</tr></thead><tbody>");
        int n = 0, total = 0;
        foreach (var r in rows)
        {
            total++;
            if (n >= maxRows) continue;
            n++;
            _body.Append("<tr>");
            foreach (var v in r)
            {
                bool num = v is double or float or int or long;
                _body.Append(num ? "<td class=\"num\">" : "<td>").Append(E(FormatValue(v, digits))).Append("</td>");
            }
            _body.Append("</tr>");
        }
        _body.Append("</tbody></table>");
        if (total > n) _body.Append($"<p class=\"note\">Showing {n} of {total} rows; the full table is in the CSV/Parquet files.</p>");
        _body.Append("</div>\n");
        return this;
    }

    public HtmlReport Table(TidyTable table, string? caption = null, int maxRows = 200, int digits = 4) =>
        Table(table.Columns.Select(c => c.Name).ToList(), table.Rows.Select(r => (IReadOnlyList<object?>)r), caption, maxRows, digits);

    static string FormatValue(object? v, int digits) => v switch
    {
        null => "",
        double d when double.IsNaN(d) => "–",
        double d => d.ToString("G" + digits, CultureInfo.InvariantCulture),
        float f => ((double)f).ToString("G" + digits, CultureInfo.InvariantCulture),
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    /// <summary>Embeds a chart (its PNG as a data URI; the SVG stays beside the report as a file).</summary>
    public HtmlReport Chart(ChartImage chart, string? caption = null) => Image(chart.Png, "image/png", caption ?? chart.Title, chart.Title);

    /// <summary>Embeds an image from bytes (PNG, JPEG or SVG) as a data URI.</summary>
    public HtmlReport Image(byte[] bytes, string mime, string? caption, string alt)
    {
        _body.Append("<figure><img alt=\"").Append(E(alt)).Append("\" src=\"data:").Append(mime).Append(";base64,")
            .Append(Convert.ToBase64String(bytes)).Append("\"/>");
        if (caption != null) _body.Append($"<figcaption>{E(caption)}</figcaption>");
        _body.Append("</figure>\n");
        return this;
    }

    /// <summary>A grid of small captioned images (a CAM gallery, say).</summary>
    public HtmlReport Gallery(IEnumerable<(byte[] Png, string Caption)> items)
    {
        _body.Append("<div class=\"gallery\">");
        foreach (var (png, cap) in items)
            _body.Append("<figure><img alt=\"").Append(E(cap)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png))
                .Append("\"/><figcaption>").Append(E(cap)).Append("</figcaption></figure>");
        _body.Append("</div>\n");
        return this;
    }

    /// <summary>Raw HTML from trusted code (never from user data).</summary>
    public HtmlReport Raw(string html)
    {
        _body.Append(html).Append('\n');
        return this;
    }

    void CloseSections()
    {
        for (; _openSections > 0; _openSections--) _body.Append("</section>\n");
    }

    public string Render()
    {
        CloseSections();
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>");
        sb.Append($"<title>{E(_title)}</title><style>{Css}</style></head><body>\n");
        sb.Append($"<header><h1>{E(_title)}</h1><p class=\"note\">Made by LayerLens {E(Version)} on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.</p>");
        if (_toc.Count > 1)
        {
            sb.Append("<nav><ol>");
            foreach (var (id, t) in _toc) sb.Append($"<li><a href=\"#{id}\">{E(t)}</a></li>");
            sb.Append("</ol></nav>");
        }
        sb.Append("</header>\n<main>\n").Append(_body).Append("</main></body></html>\n");
        return sb.ToString();
    }

    public void Save(string path) => AtomicFile.WriteAllText(path, Render());

    static string Version =>
        typeof(HtmlReport).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+')[0] ?? "dev";

    const string Css = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em;margin:.6em 0}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}thead th{background:#f4f4f4}caption{text-align:left;font-weight:600;padding:.3em 0}
table.facts th{background:#fafafa;font-weight:500}.tablewrap{overflow-x:auto}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.8em}.gallery figure{margin:0}
.synthetic{font-size:.6em;vertical-align:middle;background:#fff3cd;color:#7a5b00;border:1px solid #e6c65c;border-radius:.3em;padding:.1em .4em;margin-left:.5em}
.note{color:#666;font-size:.85em}pre{background:#f6f8fa;padding:.6em;overflow-x:auto}nav ol{columns:2}
""";
}
