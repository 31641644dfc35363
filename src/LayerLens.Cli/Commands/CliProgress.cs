using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace LayerLens.Cli.Commands;

/// <summary>
/// Shows a job's <see cref="WorkProgress"/>: Spectre.Console bars (one per stage, with rate and time left) when
/// stdout is a terminal, plain lines otherwise (at most one per stage every 10 s, plus each stage's end), so
/// logs of batch runs stay readable.
/// </summary>
public static class CliProgress
{
    public static bool IsTerminal(TextWriter stdout) =>
        !Console.IsOutputRedirected && !Console.IsErrorRedirected && ReferenceEquals(stdout, Console.Out);

    public static T Run<T>(TextWriter stdout, Func<IProgress<WorkProgress>, T> work)
    {
        if (!IsTerminal(stdout)) return work(PlainLines(stdout));
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var progress = new SyncProgress<WorkProgress>(p =>
                {
                    if (!tasks.TryGetValue(p.Stage, out var task)) tasks[p.Stage] = task = ctx.AddTask(Markup.Escape(p.Stage));
                    task.IsIndeterminate = p.Total <= 0;
                    if (p.Total > 0) task.MaxValue = p.Total;
                    task.Value = Math.Min(p.Done, (long)task.MaxValue);
                    task.Description = Markup.Escape(p.Detail is { Length: > 0 } d ? $"{p.Stage} ({d})" : p.Stage);
                });
                result = work(progress);
                foreach (var t in tasks.Values) t.Value = t.MaxValue;
            });
        return result;
    }

    public static void Run(TextWriter stdout, Action<IProgress<WorkProgress>> work) =>
        Run<int>(stdout, p => { work(p); return 0; });

    /// <summary>
    /// A loop over items that reports one line each (detect, classify): on a terminal a bar, with the items' lines
    /// printed after it; otherwise each item's line on <paramref name="lines"/> as it is done (the plain progress).
    /// </summary>
    public static void Items<T>(TextWriter stdout, TextWriter lines, string stage, string unit, IReadOnlyList<T> items, Func<T, string?> body)
    {
        if (!IsTerminal(stdout))
        {
            foreach (var item in items)
                if (body(item) is { } line) lines.WriteLine(line);
            return;
        }
        var collected = new List<string>();
        Run(stdout, progress =>
        {
            int done = 0;
            progress.Report(new WorkProgress(stage, 0, items.Count, unit));
            foreach (var item in items)
            {
                if (body(item) is { } line) collected.Add(line);
                progress.Report(new WorkProgress(stage, ++done, items.Count, unit));
            }
        });
        foreach (var line in collected) lines.WriteLine(line);
    }

    /// <summary>Plain progress lines: "stage: 120/500 images (24%), 8.1 images/s, ETA 00:00:47 — detail".</summary>
    public static IProgress<WorkProgress> PlainLines(TextWriter stdout, double intervalSeconds = 10)
    {
        var started = new Dictionary<string, Stopwatch>();
        var lastLine = new Dictionary<string, TimeSpan>();
        return new SyncProgress<WorkProgress>(p =>
        {
            if (!started.TryGetValue(p.Stage, out var sw)) started[p.Stage] = sw = Stopwatch.StartNew();
            bool end = p.Total > 0 && p.Done >= p.Total;
            bool first = !lastLine.TryGetValue(p.Stage, out var last);
            if (!first && !end && (sw.Elapsed - last).TotalSeconds < intervalSeconds) return;
            if (!first && end && lastLine.ContainsKey(p.Stage + "\0end")) return;
            lastLine[p.Stage] = sw.Elapsed;
            if (end) lastLine[p.Stage + "\0end"] = sw.Elapsed;
            stdout.WriteLine(Format(p, sw.Elapsed));
        });
    }

    public static string Format(WorkProgress p, TimeSpan elapsed)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.Append(p.Stage).Append(": ");
        if (p.Total > 0)
        {
            sb.Append(inv, $"{p.Done}/{p.Total} {p.Unit} ({100.0 * p.Done / p.Total:F0}%)");
            // A rate over less than a second (a stage's first report) says nothing.
            double rate = elapsed.TotalSeconds >= 1 ? p.Done / elapsed.TotalSeconds : 0;
            if (rate > 0) sb.Append(inv, $", {rate:F1} {p.Unit}/s");
            if (rate > 0 && p.Done < p.Total)
                sb.Append(", ETA ").Append(TimeSpan.FromSeconds(Math.Round((p.Total - p.Done) / rate)).ToString(@"hh\:mm\:ss", inv));
        }
        else sb.Append(inv, $"{p.Done} {p.Unit}");
        if (p.Detail is { Length: > 0 } d) sb.Append(" — ").Append(d);
        return sb.ToString();
    }
}
