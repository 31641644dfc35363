using System.CommandLine;
using System.Globalization;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Cli.Commands;

/// <summary>
/// `layerlens demo`: a first look that needs nothing but this checkout. For now it shows the engine on the
/// bundled tiny residual network (random weights): the layer table, one forward pass with every layer
/// tapped in the same pass, and a gradient to the input. The three studies join it as they land.
/// </summary>
public static class DemoCommand
{
    public const string BundledModel = "Assets/tiny-resnet.onnx";

    public static Command Build()
    {
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for the demo's files.", DefaultValueFactory = _ => "layerlens-demo" };
        var cmd = new Command("demo",
            "Show what LayerLens does on the bundled model and generated images (no downloads).\n\n" +
            "Examples:\n" +
            "  layerlens demo\n" +
            "  layerlens demo --out /tmp/demo")
        { outDir };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () => Run(parse.GetValue(outDir)!, parse.InvocationConfiguration.Output)));
        return cmd;
    }

    public static int Run(string dir, TextWriter output)
    {
        var modelPath = Path.Combine(AppContext.BaseDirectory, BundledModel);
        Directory.CreateDirectory(dir);
        using var graph = ModelLoader.Load(modelPath);
        graph.InferShapes(graph.InputShapesFor(64, 64));
        output.WriteLine($"Model: {modelPath}");
        output.WriteLine("  (a tiny ResNet-shaped network with random weights, bundled so the demo needs no download)");
        output.WriteLine();
        LayersCommand.WriteTable(output, graph.Layers);
        output.WriteLine();

        using var scope = torch.NewDisposeScope();
        var images = SyntheticImages(4, 64, 64);
        Npy.Write(Path.Combine(dir, "synthetic_images.npy"), images);
        var means = new Dictionary<string, double>();
        var taps = graph.Layers.Select(l => l.Name).ToList();
        using var result = graph.Run(images, new RunOptions
        {
            Taps = taps,
            KeepTaps = false,
            OnTap = (layer, t) => means[layer.Name] = t.abs().mean().ToDouble(),
        });
        var logits = result.Outputs[graph.OutputNames[0]];
        var probs = torch.nn.functional.softmax(logits, 1);
        Npy.Write(Path.Combine(dir, "logits.npy"), logits);
        output.WriteLine($"One forward pass over 4 synthetic images (gratings of rising frequency) tapped all {taps.Count} layers.");
        output.WriteLine("Mean |activation| by layer:");
        foreach (var l in graph.Layers)
            output.WriteLine($"  {l.RelativeDepth.ToString("0.00", CultureInfo.InvariantCulture)}  {l.Name,-40} {means[l.Name].ToString("0.0000", CultureInfo.InvariantCulture)}");
        output.WriteLine();
        output.WriteLine("Top class per image (random weights, so the classes mean nothing yet):");
        var top = probs.max(1);
        for (int i = 0; i < 4; i++)
            output.WriteLine($"  image {i}: class {top.indexes[i].ToInt64()}  p={top.values[i].ToDouble().ToString("0.000", CultureInfo.InvariantCulture)}");

        // The same graph is differentiable: the gradient of the top logit reaches the input image.
        var x = images.clone().requires_grad_(true);
        using (var g = graph.Run(x, new RunOptions { Grad = true }))
        {
            var score = g.Outputs[graph.OutputNames[0]].max(1).values.sum();
            var grad = torch.autograd.grad(new[] { score }, new[] { x })[0];
            var saliency = grad.abs().amax(new long[] { 1 });
            Npy.Write(Path.Combine(dir, "saliency.npy"), saliency);
            output.WriteLine();
            output.WriteLine($"Gradient of the top logit to the input: mean |d score / d pixel| = {grad.abs().mean().ToDouble().ToString("0.000000", CultureInfo.InvariantCulture)}");
        }
        output.WriteLine($"Wrote synthetic_images.npy, logits.npy and saliency.npy to {Path.GetFullPath(dir)}");
        return 0;
    }

    /// <summary>Sine gratings of rising spatial frequency, one per image (float32, NCHW, 0..1).</summary>
    public static Tensor SyntheticImages(int count, int height, int width)
    {
        var yy = torch.arange(height, dtype: ScalarType.Float32).reshape(1, height, 1);
        var xx = torch.arange(width, dtype: ScalarType.Float32).reshape(1, 1, width);
        var list = new List<Tensor>();
        for (int i = 0; i < count; i++)
        {
            double f = (i + 1) * 2 * Math.PI / width;
            var r = ((xx * f).sin() * 0.5 + 0.5).expand(1, height, width);
            var gch = ((yy * f).cos() * 0.5 + 0.5).expand(1, height, width);
            var b = (((xx + yy) * f * 0.5).sin() * 0.5 + 0.5);
            list.Add(torch.cat(new[] { r, gch, b }, 0));
        }
        return torch.stack(list);
    }
}
