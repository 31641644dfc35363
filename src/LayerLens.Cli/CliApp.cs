using System.CommandLine;

namespace LayerLens.Cli;

public static class CliApp
{
    public static int Run(string[] args)
    {
        var root = new RootCommand("LayerLens: how the layers of vision networks relate to human perception and the brain.");
        return root.Parse(args).Invoke();
    }
}
