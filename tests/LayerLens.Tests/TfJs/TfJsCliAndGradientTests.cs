using System.Text.Json;
using LayerLens.Cli;
using LayerLens.Models;
using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.TfJs;

public class TfJsCliAndGradientTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "layerlens-cli-" + Guid.NewGuid().ToString("N"));

    public TfJsCliAndGradientTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Gradients_of_a_tfjs_model_reach_its_input_and_tapped_layers()
    {
        _ = TfJsReference.HumanModelsDir;
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        using var graph = ModelLoader.Load("zoo:emotion");
        var tap = graph.Layers.First(l => l.OpType == "_FusedConv2D").Name;
        using var x = torch.rand(1, 64, 64, 1, generator: new Generator(7)).mul(2).sub(1).requires_grad_(true);
        using var r = graph.Run(x, new RunOptions { Grad = true, Taps = new[] { tap } });
        var happy = r.Outputs[graph.OutputNames[0]][0, 3];
        var g = torch.autograd.grad(new[] { happy }, new[] { x, r.Taps[tap] });
        var (gx, gtap) = (g[0], g[1]);
        Assert.Equal(x.shape, gx.shape);
        Assert.True(gx.abs().sum().item<float>() > 0, "no gradient reached the input");
        Assert.True(gtap.abs().sum().item<float>() > 0, "no gradient reached the tapped layer");
    }

    [Fact]
    public void Detect_command_writes_one_json_line_per_photo_in_original_pixels()
    {
        _ = TfJsReference.HumanModelsDir;
        var photos = TfJsReference.FixturePath("Photos");
        var stderr = new StringWriter();
        int code = CliApp.Run(new[] { "detect", "zoo:nanodet", "--images", photos, "--out", _dir, "--overlays" }, new StringWriter(), stderr);
        Assert.True(code == 0, stderr.ToString());
        var lines = File.ReadAllLines(Path.Combine(_dir, "detections.jsonl"));
        Assert.Equal(4, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            int w = root.GetProperty("width").GetInt32(), h = root.GetProperty("height").GetInt32();
            Assert.True(File.Exists(Path.Combine(_dir, "overlays", root.GetProperty("id").GetString() + ".png")));
            foreach (var d in root.GetProperty("detections").EnumerateArray())
            {
                var box = d.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
                Assert.InRange(box[0], 0, w);
                Assert.InRange(box[2], box[0], w);
                Assert.InRange(box[1], 0, h);
                Assert.InRange(box[3], box[1], h);
                Assert.InRange(d.GetProperty("score").GetDouble(), 0.3, 1.0);
            }
        }
        Assert.Contains(lines, l => l.Contains("\"id\":\"motorcycle_left\"") && l.Contains("\"label\":\"motorcycle\""));
    }

    [Fact]
    public void Classify_command_writes_ranked_probabilities_per_image()
    {
        _ = TfJsReference.HumanModelsDir;
        var csv = Path.Combine(_dir, "pred.csv");
        var stderr = new StringWriter();
        int code = CliApp.Run(new[] { "classify", "zoo:emotion", "--images", TfJsReference.FixturePath("Photos"), "--top", "3", "--out", csv }, new StringWriter(), stderr);
        Assert.True(code == 0, stderr.ToString());
        var rows = File.ReadAllLines(csv);
        Assert.Equal("id,rank,label,probability", rows[0]);
        Assert.Equal(1 + 4 * 3, rows.Length);
        var first = rows.Skip(1).Take(3).Select(r => r.Split(',')).ToList();
        Assert.Equal(new[] { "1", "2", "3" }, first.Select(f => f[1]));
        var probs = first.Select(f => double.Parse(f[3], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(probs[0] >= probs[1] && probs[1] >= probs[2]);
        Assert.All(first, f => Assert.Contains(f[2], new[] { "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral" }));
    }
}
