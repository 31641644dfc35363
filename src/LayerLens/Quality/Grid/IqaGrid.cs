using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LayerLens.Models;
using LayerLens.Preprocessing;
using LayerLens.Quality.Datasets;
using LayerLens.Quality.Distances;
using LayerLens.Quality.Distortions;
using LayerLens.Quality.Evaluation;
using LayerLens.Reports;

namespace LayerLens.Quality.Grid;

/// <summary>What a grid run wrote: the results table (CSV, Parquet), the HTML report and its plots.</summary>
public sealed record IqaGridSummary(
    string OutputDir, string ResultsCsv, string ResultsParquet, string ReportPath,
    IReadOnlyList<ChartImage> Plots, TidyTable Table, int CellsComputed, int CellsReused);

/// <summary>
/// Runs an <see cref="IqaGridConfig"/>: every model × readout × dataset cell (all its layers and their combination),
/// and per dataset the baselines (PSNR, SSIM, MS-SSIM; LPIPS when given). Each cell is written atomically to
/// <c>OUT/cells/</c> under a key of everything that determines its numbers, so a killed run resumes where it stopped
/// and ends with the same table. Then the tidy table (results.csv, results.parquet), layer-depth curves and
/// comparison charts (plots/), and a self-contained report.html.
/// </summary>
public static class IqaGrid
{
    const string CellVersion = "iqa-cell-v1";

    public static IqaGridSummary Run(IqaGridConfig config, string outDir, IProgress<WorkProgress>? progress = null, CancellationToken ct = default)
    {
        config.Validate();
        Native.TorchRuntime.EnsureLoaded();
        outDir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(outDir);
        var device = ComputeDevice.Parse(config.Device);
        var evaluation = new EvaluationOptions { Seed = config.Seed, BootstrapResamples = config.Bootstrap };
        var runOptions = new IqaRunOptions { BatchSize = config.BatchSize, Evaluation = evaluation };
        string evalKey = $"seed={config.Seed}|bootstrap={config.Bootstrap}";

        // Cells in table order: per dataset the baselines, LPIPS, then models × readouts.
        var readouts = config.Readouts.Select(r => FeatureReadout.Parse(r).Name).ToArray();
        var cells = new List<Cell>();
        foreach (var ds in config.Datasets)
        {
            var dsKey = DatasetKey(ds, config.Seed);
            if (config.Baselines) cells.Add(new Cell("baselines", ds, null, null, "baselines", Key("baselines", dsKey, evalKey)));
            if (config.Lpips is { } lp)
                cells.Add(new Cell("lpips", ds, null, null, lp.Name, Key("lpips", IqaGridModels.Identity(lp.Model), FileHash(lp.Weights),
                    IqaGridModels.Preprocessing(lp.Model, lp.Preprocessing, "lpips").ToJson(), dsKey, evalKey)));
            foreach (var m in config.Models)
            {
                var pre = IqaGridModels.Preprocessing(m.Model, m.Preprocessing).ToJson();
                foreach (var r in readouts)
                    cells.Add(new Cell("model", ds, m, r, m.Label, Key("model", IqaGridModels.Identity(m.Model), m.Layers, pre, r, dsKey, evalKey)));
            }
        }
        var cellDir = Path.Combine(outDir, "cells");
        int computed = 0, reused = cells.Count(c => File.Exists(CellPath(cellDir, c)));
        int done = reused;
        progress?.Report(new WorkProgress("iqa grid", done, cells.Count, "cells"));

        var datasets = new Dictionary<IqaGridDataset, IqaDataset>();
        IqaDataset Open(IqaGridDataset d)
        {
            if (!datasets.TryGetValue(d, out var set)) datasets[d] = set = OpenDataset(d, config.Seed, outDir, progress, ct);
            return set;
        }

        foreach (var group in cells.Where(c => !File.Exists(CellPath(cellDir, c))).GroupBy(c => (c.Dataset, Model: c.Model?.Label ?? "\0" + c.Label)).ToList())
        {
            ct.ThrowIfCancellationRequested();
            var first = group.First();
            var set = Open(first.Dataset);
            var detail = $"{first.Label}{(first.Model != null ? " (" + string.Join(", ", group.Select(c => c.Readout)) + ")" : "")} on {set.Name}";
            progress?.Report(new WorkProgress("iqa grid", done, cells.Count, "cells", detail));
            var pairs = new SyncProgress<int>(k => progress?.Report(new WorkProgress("pairs", k, set.Pairs.Count, "pairs", detail)));
            IReadOnlyList<IqaResultRow> rows;
            if (first.Kind == "baselines")
                rows = IqaBenchmark.RunDistances(set, null, Array.Empty<DeepDistance>(), runOptions with { Baselines = true }, pairs, ct);
            else if (first.Kind == "lpips")
            {
                var lp = config.Lpips!;
                using var graph = ModelLoader.Load(lp.Model, device);
                using var pp = new ImagePreprocessor(IqaGridModels.Preprocessing(lp.Model, lp.Preprocessing, "lpips"));
                var (layers, weights) = IqaGridModels.ReadWeights(lp.Weights);
                var dd = new DeepDistance(graph, layers, new LpipsReadout(), weights);
                rows = IqaBenchmark.RunDistances(set, pp, new[] { dd }, runOptions with { Baselines = false }, pairs, ct)
                    .Select(r => r with { Model = lp.Name }).ToList();
            }
            else
            {
                var m = first.Model!;
                using var graph = ModelLoader.Load(m.Model, device);
                using var pp = new ImagePreprocessor(IqaGridModels.Preprocessing(m.Model, m.Preprocessing));
                var layers = IqaGridModels.SelectLayers(graph, m.Layers, m.Label);
                var dds = group.Select(c => new DeepDistance(graph, layers, FeatureReadout.Parse(c.Readout!))).ToArray();
                rows = IqaBenchmark.RunDistances(set, pp, dds, runOptions with { Baselines = false }, pairs, ct)
                    .Select(r => r with { Model = m.Label }).ToList();
            }
            foreach (var cell in group)
            {
                var role = cell.Kind == "model" ? "model" : "baseline";
                IqaBenchmark.ToTable(rows.Where(r => cell.Kind != "model" || r.Readout == cell.Readout), role).WriteParquet(CellPath(cellDir, cell));
                computed++;
                done++;
                progress?.Report(new WorkProgress("iqa grid", done, cells.Count, "cells", detail));
            }
        }

        var all = new TidyTable(IqaBenchmark.Columns);
        foreach (var c in cells)
        {
            var t = TidyTable.ReadParquet(CellPath(cellDir, c));
            foreach (var row in t.Rows) all.Add(row);
        }
        var csv = Path.Combine(outDir, "results.csv");
        var parquet = Path.Combine(outDir, "results.parquet");
        all.WriteCsv(csv);
        all.WriteParquet(parquet);

        var plots = IqaGridReport.Plots(config, all);
        var plotDir = Path.Combine(outDir, "plots");
        foreach (var (chart, file) in plots) chart.Save(Path.Combine(plotDir, file));
        var reportPath = Path.Combine(outDir, "report.html");
        var sizes = config.Datasets.ToDictionary(d => d.Label, d => all.Rows.Where(r => (string?)r[4] == d.Label && (string?)r[5] == "all").Select(r => (long)r[6]!).DefaultIfEmpty(0).Max());
        IqaGridReport.Build(config, all, plots.Select(p => p.Chart).ToList(), sizes, computed, reused).Save(reportPath);
        return new IqaGridSummary(outDir, csv, parquet, reportPath, plots.Select(p => p.Chart).ToList(), all, computed, reused);
    }

    sealed record Cell(string Kind, IqaGridDataset Dataset, IqaGridModel? Model, string? Readout, string Label, string Hash);

    static string CellPath(string dir, Cell c) =>
        Path.Combine(dir, Slug(c.Dataset.Label), $"{Slug(c.Label)}{(c.Readout != null ? "--" + c.Readout : "")}--{c.Hash}.parquet");

    /// <summary>Opens a grid dataset, generating a distortion set (once; reused on resume) for distort:FOLDER.</summary>
    static IqaDataset OpenDataset(IqaGridDataset d, int seed, string outDir, IProgress<WorkProgress>? progress, CancellationToken ct)
    {
        if (!d.IsGenerated) return IqaDataset.Open(d.Spec) with { Name = d.Label };
        var dir = Path.Combine(outDir, "datasets", $"{Slug(d.Label)}-{DatasetKey(d, seed)[..12]}");
        var csv = Path.Combine(dir, "pairs.csv");
        if (!File.Exists(csv))
        {
            int n = 0;
            DistortedSet.Build(d.PathPart, dir, d.Seed ?? seed, maxSide: d.MaxSide, levels: d.Levels,
                progress: new SyncProgress<string>(_ => progress?.Report(new WorkProgress($"generating {d.Label}", ++n, 0, "images"))), cancel: ct);
        }
        return IqaDatasets.Csv(csv) with { Name = d.Label };
    }

    static string DatasetKey(IqaGridDataset d, int seed) => d.IsGenerated
        ? Key("distort", Path.GetFullPath(d.PathPart), FolderStamp(d.PathPart), $"max={d.MaxSide}", $"levels={string.Join(",", d.Levels ?? Array.Empty<int>())}", $"seed={d.Seed ?? seed}")
        : Key(d.Kind, Path.GetFullPath(d.PathPart), d.Label);

    static string FolderStamp(string folder) => Directory.Exists(folder)
        ? string.Join(";", Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal).Select(f => { var i = new FileInfo(f); return $"{i.Name}:{i.Length}:{i.LastWriteTimeUtc.Ticks}"; }))
        : "missing";

    // Upper case, as cell keys have always been made; the hash streams the file.
    static string FileHash(string path) => File.Exists(path)
        ? Features.FeatureProvenance.FileSha256(path).ToUpperInvariant()
        : throw new LayerLensException($"{path}: channel-weights file not found", ErrorKind.BadInput);

    static string Key(params string[] parts) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(CellVersion + "\n" + string.Join("\n", parts))))[..16].ToLowerInvariant();

    internal static string Slug(string s)
    {
        var sb = new StringBuilder();
        foreach (var ch in s) sb.Append(char.IsLetterOrDigit(ch) || ch is '-' or '_' or '.' ? ch : '_');
        return sb.Length == 0 ? "_" : sb.ToString();
    }
}
