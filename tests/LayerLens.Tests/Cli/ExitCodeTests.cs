using LayerLens.Cli;

namespace LayerLens.Tests.Cli;

/// <summary>
/// The exit-code contract across every command: 1 for usage errors, 2 for a file that is not there (and the one-line
/// message names it), never an internal error or a stack trace for bad input.
/// </summary>
public class ExitCodeTests
{
    const string Missing = "/nonexistent-layerlens/missing";

    public static TheoryData<string[]> MissingFiles() => new()
    {
        new[] { "layers", Missing + ".onnx" },
        new[] { "infer", Missing + ".onnx", "--input", Missing + ".npy", "--out", Missing + "-out" },
        new[] { "extract", Missing + ".onnx", "--images", Missing + "-images", "--out", Missing + ".h5" },
        new[] { "features", Missing + ".h5" },
        new[] { "readout", "--features", Missing + ".h5", "--targets", Missing + ".csv", "--out", Missing + ".csv" },
        new[] { "brain", "--features", Missing + ".h5", "--neural", Missing + "-neural", "--out", Missing + ".csv" },
        new[] { "ssim", Missing + "-a.png", Missing + "-b.png" },
        new[] { "distance", Missing + ".onnx", Missing + "-a.png", Missing + "-b.png" },
        new[] { "iqa", "--model", Missing + ".onnx", "--dataset", "csv:" + Missing + ".csv", "--out", Missing + "-iqa" },
        new[] { "finetune", Missing + ".onnx", "--train", Missing + ".csv", "--val", Missing + ".csv", "--target", "score", "--out", Missing + "-ft" },
        new[] { "evaluate", Missing + ".onnx", "--data", Missing + ".csv", "--target", "score" },
        new[] { "detect", Missing + ".onnx", "--images", Missing + "-images", "--out", Missing + "-det" },
        new[] { "classify", Missing + ".onnx", "--images", Missing + "-images", "--out", Missing + ".csv" },
    };

    [Theory]
    [MemberData(nameof(MissingFiles))]
    public void A_missing_file_exits_with_2_and_one_line_naming_it(string[] args)
    {
        var (code, _, err) = TestPaths.Cli(args);
        Assert.True(code == 2, $"layerlens {string.Join(' ', args)} exited {code}: {err}");
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains("missing", lines[0]);
    }

    [Fact]
    public void Every_command_rejects_an_unknown_option_with_exit_code_1()
    {
        foreach (var top in CliApp.BuildRoot().Subcommands)
        {
            var cmd = top.Subcommands.Count > 0 ? top.Subcommands[0] : top;
            // Positional arguments get placeholders first, so the unknown option cannot be read as one of them.
            var args = new List<string> { top.Name };
            if (!ReferenceEquals(cmd, top)) args.Add(cmd.Name);
            args.AddRange(cmd.Arguments.Select(_ => "x"));
            args.Add("--no-such-option");
            var (code, _, err) = TestPaths.Cli(args.ToArray());
            Assert.True(code == 1, $"layerlens {string.Join(' ', args)} exited {code}: {err}");
            Assert.Contains("--no-such-option", err);
        }
    }
}
