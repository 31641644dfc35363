using System.Text.Json;
using LayerLens.Cli;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Tests.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Cli;

public class CliTests
{
    static string WriteImages(string dir, string name = "x.npy", long batch = 2, long size = 64)
    {
        var path = Path.Combine(dir, name);
        using var x = torch.rand(new long[] { batch, 3, size, size }, generator: new Generator(3));
        Npy.Write(path, x);
        return path;
    }

    [Fact]
    public void Layers_prints_the_table_and_json()
    {
        var (code, output, err) = TestPaths.Cli("layers", TestPaths.DemoModel, "--input-size", "64x64");
        Assert.True(code == 0, err);
        Assert.Contains("logits", output);
        Assert.Contains("[1,16,32,32]", output);
        (code, output, err) = TestPaths.Cli("layers", TestPaths.DemoModel, "--input-size", "96", "--json", "--layers", "op:Conv");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(6, rows.Count);
        Assert.All(rows, r => Assert.Equal("Conv", r.GetProperty("op").GetString()));
        Assert.Equal(48, rows[0].GetProperty("shape")[2].GetInt64());
    }

    [Fact]
    public void Infer_writes_outputs_and_selected_layers_with_an_index()
    {
        var dir = TestPaths.NewTempDir();
        var input = WriteImages(dir);
        var outDir = Path.Combine(dir, "acts");
        var (code, _, err) = TestPaths.Cli("infer", TestPaths.DemoModel, "--input", input, "--layers", "op:Relu,logits", "--out", outDir);
        Assert.True(code == 0, err);
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "index.json")));
        var layers = index.RootElement.GetProperty("layers");
        Assert.Equal(6, layers.EnumerateObject().Count()); // 5 ReLUs + logits
        var outputFile = index.RootElement.GetProperty("outputs").GetProperty("logits").GetString()!;

        using var graph = ModelLoader.Load(TestPaths.DemoModel);
        using var x = Npy.Read(input);
        using var r = graph.Run(x);
        using var saved = Npy.Read(Path.Combine(outDir, outputFile));
        Assert.True(saved.allclose(r.Outputs["logits"], 0, 0));
        using var savedLogitsLayer = Npy.Read(Path.Combine(outDir, layers.GetProperty("logits").GetString()!));
        Assert.True(savedLogitsLayer.allclose(saved, 0, 0));
    }

    [Fact]
    public void Infer_takes_named_inputs()
    {
        var dir = TestPaths.NewTempDir();
        var input = WriteImages(dir);
        var (code, _, err) = TestPaths.Cli("infer", TestPaths.DemoModel, "--input", $"image={input}", "--out", Path.Combine(dir, "o"));
        Assert.True(code == 0, err);
        (code, _, err) = TestPaths.Cli("infer", TestPaths.DemoModel, "--input", $"photo={input}", "--out", Path.Combine(dir, "o"));
        Assert.Equal(2, code);
        Assert.Contains("no input named 'photo'", err);
    }

    public static IEnumerable<object[]> BadModels()
    {
        yield return new object[] { "truncated", "not a readable ONNX model" };
        yield return new object[] { "not-onnx", "not" };
        yield return new object[] { "unknown-op", "unsupported: node 'mystery' (FancyOp, opset 13): operator 'FancyOp' is not implemented" };
        yield return new object[] { "bad-attribute", "attribute 'sparkle' is not supported" };
        yield return new object[] { "missing-external", "external data file" };
        yield return new object[] { "old-opset", "opset 5 is not supported" };
    }

    [Theory]
    [MemberData(nameof(BadModels))]
    public void Bad_models_give_one_line_errors_and_exit_code_2(string kind, string expected)
    {
        var dir = TestPaths.NewTempDir();
        var input = WriteImages(dir);
        var model = Path.Combine(dir, kind + ".onnx");
        switch (kind)
        {
            case "truncated":
                var bytes = File.ReadAllBytes(TestPaths.DemoModel);
                File.WriteAllBytes(model, bytes.Take(bytes.Length / 3).ToArray());
                break;
            case "not-onnx":
                File.WriteAllText(model, "this is a text file, not a model\n");
                break;
            case "unknown-op":
                new OnnxModelBuilder().Input("x", -1, 3, 64, 64).Output("y").Node("Relu", new[] { "x" }, new[] { "r" })
                    .Node("FancyOp", new[] { "r" }, new[] { "y" }, "mystery").Save(model);
                break;
            case "bad-attribute":
                new OnnxModelBuilder().Input("x", -1, 3, 64, 64).Output("y")
                    .Node("Relu", new[] { "x" }, new[] { "y" }, "r", OnnxModelBuilder.Int("sparkle", 1)).Save(model);
                break;
            case "missing-external":
                new OnnxModelBuilder().Input("x", -1, 3, 64, 64).Output("y").ExternalInitializer("w", new long[] { 1 }, "weights.bin")
                    .Node("Mul", new[] { "x", "w" }, new[] { "y" }).Save(model);
                break;
            case "old-opset":
                new OnnxModelBuilder(opset: 5).Input("x", -1, 3, 64, 64).Output("y").Node("Relu", new[] { "x" }, new[] { "y" }).Save(model);
                break;
        }
        foreach (var args in new[] { new[] { "layers", model }, new[] { "infer", model, "--input", input, "--out", Path.Combine(dir, "o") } })
        {
            var (code, _, err) = TestPaths.Cli(args);
            Assert.Equal(2, code);
            var lines = err.Trim().Split('\n');
            Assert.Single(lines);
            Assert.StartsWith("error: ", lines[0]);
            Assert.Contains(expected, lines[0]);
            Assert.Contains(kind == "unknown-op" || kind == "bad-attribute" ? "" : Path.GetFileName(model), err);
        }
    }

    [Fact]
    public void Bad_inputs_give_one_line_errors_and_verbose_adds_the_stack_trace()
    {
        var dir = TestPaths.NewTempDir();
        var wrongShape = Path.Combine(dir, "wrong.npy");
        using (var t = torch.zeros(2, 64, 64)) Npy.Write(wrongShape, t);
        var nan = Path.Combine(dir, "nan.npy");
        using (var t = torch.full(new long[] { 1, 3, 64, 64 }, double.NaN)) Npy.Write(nan, t);

        var (code, _, err) = TestPaths.Cli("infer", TestPaths.DemoModel, "--input", wrongShape, "--out", Path.Combine(dir, "o"));
        Assert.Equal(2, code);
        Assert.Equal("error: input 'image' expects shape [?,3,64,64], got [2,64,64]", err.Trim());

        (code, _, err) = TestPaths.Cli("infer", TestPaths.DemoModel, "--input", nan, "--out", Path.Combine(dir, "o"));
        Assert.Equal(2, code);
        Assert.Equal("error: input 'image' contains NaN or infinite values", err.Trim());

        (code, _, err) = TestPaths.Cli("infer", TestPaths.DemoModel, "--input", nan, "--out", Path.Combine(dir, "o"), "--verbose");
        Assert.Equal(2, code);
        Assert.Contains("at LayerLens.", err);

        (code, _, err) = TestPaths.Cli("infer", TestPaths.DemoModel, "--input", Path.Combine(dir, "missing.npy"), "--out", Path.Combine(dir, "o"));
        Assert.Equal(2, code);
        Assert.Contains("missing.npy: file not found", err);
    }

    [Fact]
    public void Usage_errors_exit_with_code_1_and_every_command_has_an_example()
    {
        Assert.Equal(1, TestPaths.Cli("layers").Code);
        Assert.Equal(1, TestPaths.Cli("infer", TestPaths.DemoModel).Code);
        Assert.Equal(1, TestPaths.Cli("no-such-command").Code);
        Assert.Equal(1, TestPaths.Cli("layers", TestPaths.DemoModel, "--input-size", "big").Code);
        foreach (var cmd in CliApp.BuildRoot().Subcommands)
        {
            Assert.Contains("Example", cmd.Description);
            Assert.Contains("layerlens " + cmd.Name, cmd.Description);
        }
    }
}
