using System.CommandLine;
using LayerLens.Models;
using LayerLens.Models.Engine;

namespace LayerLens.Cli.Commands;

/// <summary>Options several commands share, and the one place that turns exceptions into exit codes.</summary>
public static class CommonOptions
{
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Print stack traces with errors.",
        Recursive = true,
    };

    public static Option<string> Device() => new("--device")
    {
        Description = "Where to run: cpu, cuda or cuda:N.",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<string?> InputSize() => new("--input-size")
    {
        Description = "Image size HxW (or one number for square) used for shapes; default: the model's declared size, else 224x224.",
    };

    /// <summary>Runs a command body, mapping errors to exit codes: 1 usage, 2 bad input, 3 internal.</summary>
    public static int Guard(ParseResult parse, Func<int> body)
    {
        var err = parse.InvocationConfiguration.Error;
        bool verbose = parse.GetValue(Verbose);
        try
        {
            return body();
        }
        catch (LayerLensException e)
        {
            err.WriteLine($"error: {e.Message}");
            if (verbose) err.WriteLine(e);
            return (int)e.Kind;
        }
        catch (OperationCanceledException)
        {
            err.WriteLine("error: cancelled");
            return (int)ErrorKind.Internal;
        }
        catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
        {
            err.WriteLine($"error: {ModelGraph.FirstLine(e.Message)}");
            if (verbose) err.WriteLine(e);
            return (int)ErrorKind.BadInput;
        }
        catch (Exception e)
        {
            err.WriteLine($"internal error: {ModelGraph.FirstLine(e.Message)} (run with --verbose for details)");
            if (verbose) err.WriteLine(e);
            return (int)ErrorKind.Internal;
        }
    }

    /// <summary>Parses "224x224", "224" or "299,299" into (height, width).</summary>
    public static (int Height, int Width) ParseSize(string text)
    {
        var parts = text.Split('x', 'X', ',');
        if (parts.Length == 1 && int.TryParse(parts[0], out var s) && s > 0) return (s, s);
        if (parts.Length == 2 && int.TryParse(parts[0], out var h) && int.TryParse(parts[1], out var w) && h > 0 && w > 0) return (h, w);
        throw new LayerLensException($"--input-size '{text}': expected HxW such as 224x224", ErrorKind.Usage);
    }

    /// <summary>Loads a model and records layer shapes for the requested (or declared, or 224×224) input size.</summary>
    public static ModelGraph LoadWithShapes(string model, string device, string? inputSize)
    {
        var graph = ModelLoader.Load(model, ComputeDevice.Parse(device));
        try
        {
            Dictionary<string, long[]>? shapes = null;
            if (inputSize != null)
            {
                var (h, w) = ParseSize(inputSize);
                shapes = graph.InputShapesFor(h, w);
            }
            else if (graph.Inputs.Any(i => i.Shape.Skip(1).Any(d => d < 0)))
                shapes = graph.InputShapesFor(224, 224);
            else
                shapes = graph.Inputs.ToDictionary(i => i.Name, i => i.Shape.Select((d, k) => k == 0 ? 1 : d).ToArray());
            graph.InferShapes(shapes);
            return graph;
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }
}
