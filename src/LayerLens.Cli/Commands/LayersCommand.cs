using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LayerLens.Models;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens layers MODEL`: the layer table.</summary>
public static class LayersCommand
{
    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Model file (.onnx)." };
        var size = CommonOptions.InputSize();
        var json = new Option<bool>("--json") { Description = "Print the table as JSON (one object per layer)." };
        var select = new Option<string>("--layers") { Description = "Only these layers (all, names, globs, op:TYPE, depth:LO-HI).", DefaultValueFactory = _ => "all" };
        var device = CommonOptions.Device();
        var cmd = new Command("layers",
            "Print every layer of a model: name, op, depth, relative depth, output shape and parameter count.\n\n" +
            "Examples:\n" +
            "  layerlens layers resnet18.onnx\n" +
            "  layerlens layers resnet18.onnx --input-size 160x160 --layers op:Conv --json")
        { model, size, json, select, device };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            using var graph = CommonOptions.LoadWithShapes(parse.GetValue(model)!, parse.GetValue(device)!, parse.GetValue(size));
            var layers = LayerSelector.Parse(parse.GetValue(select)!).Select(graph.Layers);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(layers.Select(l => new
                {
                    name = l.Name, op = l.OpType, node = l.NodeName, index = l.Index, depth = l.DepthIndex,
                    relative_depth = Math.Round(l.RelativeDepth, 6), shape = l.OutputShape, parameters = l.ParameterCount,
                }), new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            output.WriteLine($"{graph.Name}: {graph.Layers.Count} layers, inputs {string.Join("; ", graph.Inputs)}");
            WriteTable(output, layers);
            return 0;
        }));
        return cmd;
    }

    public static void WriteTable(TextWriter output, IReadOnlyList<LayerInfo> layers)
    {
        var rows = layers.Select(l => new[]
        {
            l.Index.ToString(CultureInfo.InvariantCulture), l.Name, l.OpType, l.DepthIndex.ToString(CultureInfo.InvariantCulture),
            l.RelativeDepth.ToString("0.000", CultureInfo.InvariantCulture),
            l.OutputShape == null ? "?" : "[" + string.Join(",", l.OutputShape) + "]",
            l.ParameterCount.ToString(CultureInfo.InvariantCulture),
        }).ToList();
        var header = new[] { "#", "layer", "op", "depth", "rel", "shape", "params" };
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Select(r => r[i].Length).DefaultIfEmpty(0).Max())).ToArray();
        output.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var r in rows)
            output.WriteLine(string.Join("  ", r.Select((c, i) => i is 0 or 3 or 6 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd());
    }
}
