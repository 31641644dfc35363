using System.Globalization;
using LayerLens.Reports;

namespace LayerLens.Quality.Grid;

/// <summary>The grid's plots (layer-depth curves, comparison bars per dataset) and its HTML report.</summary>
internal static class IqaGridReport
{
    sealed record Row(string Model, string Layer, double Depth, string Readout, string Dataset, string Distortion, long Pairs,
        double Srocc, double Plcc, double SroccLow, double SroccHigh, string Role);

    static List<Row> Rows(TidyTable t) => t.Rows.Select(r => new Row((string)r[0]!, (string)r[1]!, (double)r[2]!, (string)r[3]!,
        (string)r[4]!, (string)r[5]!, (long)r[6]!, (double)r[7]!, (double)r[9]!, (double)r[14]!, (double)r[15]!, (string)r[18]!)).ToList();

    static readonly Dictionary<string, string> BaselineNames = new() { ["psnr"] = "PSNR", ["ssim"] = "SSIM", ["ms-ssim"] = "MS-SSIM" };

    /// <summary>Per dataset: SROCC against relative depth per model/readout (baselines as flat lines), and a bar
    /// chart of the baselines, each model/readout's best layer and its layers combined.</summary>
    public static List<(ChartImage Chart, string File)> Plots(IqaGridConfig config, TidyTable table)
    {
        var rows = Rows(table).Where(r => r.Distortion == "all").ToList();
        var plots = new List<(ChartImage, string)>();
        foreach (var ds in config.Datasets.Select(d => d.Label))
        {
            var here = rows.Where(r => r.Dataset == ds).ToList();
            var baselines = Baselines(here);
            var series = new List<ChartSeries>();
            foreach (var g in Deep(here).GroupBy(r => (r.Model, r.Readout)))
            {
                var pts = g.Where(r => r.Layer != "combined" && double.IsFinite(r.Depth)).OrderBy(r => r.Depth).ToList();
                if (pts.Count > 0) series.Add(new ChartSeries($"{g.Key.Model} · {g.Key.Readout}", pts.Select(p => p.Depth).ToList(), pts.Select(p => p.Srocc).ToList()));
            }
            foreach (var (name, b) in baselines)
                series.Add(new ChartSeries(name, new[] { 0.0, 1.0 }, new[] { b.Srocc, b.Srocc }));
            if (series.Count > 0)
                plots.Add((Charts.Scatter($"{ds}: SROCC against relative layer depth", "relative depth (0 = input, 1 = output)", "SROCC with the dataset's scores",
                    series, connect: true), $"{IqaGrid.Slug(ds)}-depth"));

            var bars = baselines.Select(b => (Label: b.Name, b.Row)).ToList();
            foreach (var g in Deep(here).GroupBy(r => (r.Model, r.Readout)))
            {
                var best = g.Where(r => r.Layer != "combined").OrderByDescending(r => r.Srocc).FirstOrDefault();
                if (best != null) bars.Add(($"{g.Key.Model} · {g.Key.Readout} best", best));
                var comb = g.FirstOrDefault(r => r.Layer == "combined");
                if (comb != null) bars.Add(($"{g.Key.Model} · {g.Key.Readout} all", comb));
            }
            if (bars.Count > 0)
                plots.Add((Charts.Bars($"{ds}: agreement with the scores (SROCC, 95 % bootstrap interval)", "SROCC",
                    bars.Select(b => b.Label).ToList(), bars.Select(b => b.Row.Srocc).ToList(),
                    bars.Select(b => double.IsFinite(b.Row.SroccLow) ? (b.Row.SroccHigh - b.Row.SroccLow) / 2 : double.NaN).ToList()),
                    $"{IqaGrid.Slug(ds)}-comparison"));
        }
        return plots;
    }

    static IEnumerable<Row> Deep(IEnumerable<Row> rows) => rows.Where(r => r.Role == "model");

    static List<(string Name, Row Row)> Baselines(List<Row> here)
    {
        var list = new List<(string, Row)>();
        foreach (var (key, name) in BaselineNames)
            if (here.FirstOrDefault(r => r.Role == "baseline" && r.Model == "-" && r.Readout == key) is { } b) list.Add((name, b));
        foreach (var b in here.Where(r => r.Role == "baseline" && r.Model != "-" && r.Layer == "combined"))
            list.Add((b.Model, b));
        return list;
    }

    public static HtmlReport Build(IqaGridConfig config, TidyTable table, IReadOnlyList<ChartImage> plots,
        IReadOnlyDictionary<string, long> datasetSizes, int computed, int reused)
    {
        var rows = Rows(table);
        var report = new HtmlReport(config.Title);
        report.Section("Grid");
        report.Paragraph("Each deep metric is the distance between a reference and a distorted image read from one layer of a network " +
            "(or all selected layers combined). Every number is oriented so that higher means better agreement with the human scores: " +
            "SROCC and PLCC are computed after negating distances and DMOS-like scores.");
        var facts = new List<(string, string)>
        {
            ("Config", config.SourcePath ?? "built in code"),
            ("Seed", config.Seed.ToString(CultureInfo.InvariantCulture)),
            ("Bootstrap resamples", config.Bootstrap.ToString(CultureInfo.InvariantCulture)),
            ("Readouts", string.Join(", ", config.Readouts)),
            ("Cells", $"{computed + reused} ({computed} computed in this run, {reused} reused from an earlier run)"),
        };
        foreach (var m in config.Models)
            facts.Add(($"Model {m.Label}", $"{m.Model}; layers {m.Layers}" + (m.Preprocessing is { Count: > 0 } p ? "; preprocessing " + string.Join(", ", p.Select(kv => $"{kv.Key}={kv.Value}")) : "")));
        if (config.Lpips is { } lp) facts.Add(($"Baseline {lp.Name}", $"{lp.Model} with channel weights {lp.Weights}"));
        foreach (var d in config.Datasets)
            facts.Add(($"Dataset {d.Label}", $"{d.Spec}" + (d.IsGenerated ? $" (max side {d.MaxSide?.ToString(CultureInfo.InvariantCulture) ?? "as is"}, levels {(d.Levels == null ? "1–5" : string.Join(",", d.Levels))}; generated, scores are the levels)" : "")
                + $"; {datasetSizes.GetValueOrDefault(d.Label)} pairs"));
        report.Facts(facts);

        foreach (var d in config.Datasets)
        {
            var ds = d.Label;
            report.Section($"Dataset {ds}", synthetic: d.IsGenerated);
            foreach (var p in plots.Where(p => p.Title.StartsWith(ds + ":", StringComparison.Ordinal))) report.Chart(p);
            var here = rows.Where(r => r.Dataset == ds && r.Distortion == "all").ToList();
            var summary = new List<IReadOnlyList<object?>>();
            foreach (var (name, b) in Baselines(here))
                summary.Add(new object?[] { name, b.Layer == "-" ? "" : b.Layer, "", b.Srocc, b.SroccLow, b.SroccHigh, b.Plcc });
            foreach (var g in Deep(here).GroupBy(r => (r.Model, r.Readout)))
            {
                var best = g.Where(r => r.Layer != "combined").OrderByDescending(r => r.Srocc).First();
                summary.Add(new object?[] { $"{g.Key.Model} · {g.Key.Readout}", $"best: {best.Layer}", best.Depth, best.Srocc, best.SroccLow, best.SroccHigh, best.Plcc });
                if (g.FirstOrDefault(r => r.Layer == "combined") is { } c)
                    summary.Add(new object?[] { $"{g.Key.Model} · {g.Key.Readout}", "combined", null, c.Srocc, c.SroccLow, c.SroccHigh, c.Plcc });
            }
            report.Table(new[] { "metric", "layer", "relative depth", "SROCC", "SROCC low", "SROCC high", "PLCC" }, summary,
                caption: $"{ds}: baselines, best layer and combined layers per model and readout");
            var types = rows.Where(r => r.Dataset == ds && r.Distortion != "all").Select(r => r.Distortion).Distinct().Order(StringComparer.Ordinal).ToList();
            if (types.Count > 0)
            {
                var metrics = Baselines(here).Select(b => (b.Name, b.Row.Model, b.Row.Layer, b.Row.Readout)).ToList();
                foreach (var g in Deep(here).GroupBy(r => (r.Model, r.Readout)))
                {
                    var best = g.Where(r => r.Layer != "combined").OrderByDescending(r => r.Srocc).First();
                    metrics.Add(($"{g.Key.Model} · {g.Key.Readout} {best.Layer}", best.Model, best.Layer, best.Readout));
                }
                var perType = types.Select(t => (IReadOnlyList<object?>)new object?[] { t }.Concat(metrics.Select(m =>
                    (object?)(rows.FirstOrDefault(r => r.Dataset == ds && r.Distortion == t && r.Model == m.Model && r.Layer == m.Layer && r.Readout == m.Readout)?.Srocc ?? double.NaN))).ToList()).ToList();
                report.Table(new[] { "distortion" }.Concat(metrics.Select(m => m.Name)).ToList(), perType, caption: $"{ds}: SROCC per distortion type");
            }
        }
        report.Section("All results");
        report.Paragraph("Every model, layer, readout and baseline over all pairs of each dataset; per-type rows are in results.csv and results.parquet.");
        report.Table(table.Where(r => (string?)r[5] == "all"), maxRows: 400);
        return report;
    }
}
