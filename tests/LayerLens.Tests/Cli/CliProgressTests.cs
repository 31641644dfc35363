using LayerLens.Cli.Commands;
using Xunit;

namespace LayerLens.Tests.Cli;

public class CliProgressTests
{
    [Fact]
    public void Plain_progress_prints_the_first_update_and_the_end_of_each_stage_but_throttles_the_rest()
    {
        var sw = new StringWriter();
        var p = CliProgress.PlainLines(sw, intervalSeconds: 3600);
        for (int i = 0; i <= 100; i++) p.Report(new WorkProgress("extract", i, 100, "images"));
        p.Report(new WorkProgress("readout", 1, 0, "layers", "layer1"));
        p.Report(new WorkProgress("extract", 100, 100, "images"));
        var lines = sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("extract: 0/100 images (0%)", lines[0]);
        Assert.StartsWith("extract: 100/100 images (100%)", lines[1]);
        Assert.Equal("readout: 1 layers — layer1", lines[2]);
    }

    [Fact]
    public void Progress_line_shows_rate_and_time_left()
    {
        var line = CliProgress.Format(new WorkProgress("sweep", 25, 100, "units"), TimeSpan.FromSeconds(5));
        Assert.Equal("sweep: 25/100 units (25%), 5.0 units/s, ETA 00:00:15", line);
    }

    [Fact]
    public void Item_loops_print_each_items_line_as_it_is_done_when_not_on_a_terminal()
    {
        var stdout = new StringWriter();
        var lines = new StringWriter();
        var seen = new List<int>();
        CliProgress.Items(stdout, lines, "detect", "images", new[] { 1, 2, 3 }, i => { seen.Add(i); return i == 2 ? null : $"item {i}"; });
        Assert.Equal(new[] { 1, 2, 3 }, seen);
        Assert.Equal(new[] { "item 1", "item 3" }, lines.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("", stdout.ToString()); // stdout stays for the command's result
    }

    [Fact]
    public void First_report_of_a_stage_gives_no_rate()
    {
        Assert.Equal("extract: 32/160 images (20%)", CliProgress.Format(new WorkProgress("extract", 32, 160, "images"), TimeSpan.FromMilliseconds(2)));
    }
}
