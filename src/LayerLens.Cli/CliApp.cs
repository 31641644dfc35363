using System.CommandLine;
using LayerLens.Cli.Commands;

namespace LayerLens.Cli;

/// <summary>The `layerlens` command tree. Each command lives in Commands/ as a static Build() that returns it.</summary>
public static class CliApp
{
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var root = BuildRoot();
        var config = new InvocationConfiguration
        {
            Output = stdout ?? Console.Out,
            Error = stderr ?? Console.Error,
            EnableDefaultExceptionHandler = false,
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            var err = config.Error;
            foreach (var e in parsed.Errors) err.WriteLine($"error: {e.Message}");
            err.WriteLine("Run with --help for usage.");
            return (int)ErrorKind.Usage;
        }
        return parsed.Invoke(config);
    }

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand(
            "LayerLens: how the layers of pretrained vision networks relate to human perception and the brain.\n\n" +
            "Examples:\n" +
            "  layerlens demo --out demo-out\n" +
            "  layerlens layers model.onnx --input-size 224x224\n" +
            "  layerlens infer model.onnx --input x.npy --layers op:Relu --out acts");
        root.Options.Add(CommonOptions.Verbose);
        root.Subcommands.Add(DemoCommand.Build());
        root.Subcommands.Add(LayersCommand.Build());
        root.Subcommands.Add(InferCommand.Build());
        root.Subcommands.Add(ExtractCommand.Build());
        root.Subcommands.Add(FeaturesCommand.Build());
        root.Subcommands.Add(ReadoutCommand.Build());
        root.Subcommands.Add(BrainCommand.Build());
        root.Subcommands.Add(SweepCommand.Build());
        root.Subcommands.Add(SsimCommand.Build());
        root.Subcommands.Add(DistanceCommand.Build());
        root.Subcommands.Add(IqaCommand.Build());
        root.Subcommands.Add(FinetuneCommand.Build());
        root.Subcommands.Add(FinetuneCommand.BuildEvaluate());
        root.Subcommands.Add(ZooCommand.Build());
        root.Subcommands.Add(DetectCommand.Build());
        root.Subcommands.Add(ClassifyCommand.Build());
        root.Subcommands.Add(ExplainCommand.Build());
        return root;
    }
}
