using System.Text.Json;
using LayerLens.Cli;

namespace LayerLens.Tests.TfJs;

/// <summary>detect/classify take --preset and the individual preprocessing options on top of the zoo entry's.</summary>
public class ZooPreprocessingCliTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "layerlens-zoopre-" + Guid.NewGuid().ToString("N"));

    public ZooPreprocessingCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Detect_with_a_letterbox_override_still_finds_the_motorcycle_in_original_pixels()
    {
        _ = TfJsReference.HumanModelsDir;
        var manifest = Path.Combine(_dir, "images.txt");
        File.WriteAllText(manifest, TfJsReference.FixturePath("Photos", "motorcycle_left.png") + "\n");
        var stderr = new StringWriter();
        int code = CliApp.Run(new[] { "detect", "zoo:nanodet", "--images", manifest, "--fit", "letterbox", "--pad", "114", "--out", _dir }, new StringWriter(), stderr);
        Assert.True(code == 0, stderr.ToString());
        using var doc = JsonDocument.Parse(File.ReadAllLines(Path.Combine(_dir, "detections.jsonl")).Single());
        int width = doc.RootElement.GetProperty("width").GetInt32(), height = doc.RootElement.GetProperty("height").GetInt32();
        var moto = doc.RootElement.GetProperty("detections").EnumerateArray().FirstOrDefault(d => d.GetProperty("label").GetString() == "motorcycle");
        Assert.True(moto.ValueKind == JsonValueKind.Object, stderr.ToString());
        var box = moto.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        // The motorcycle fills most of the (wide) photo; the letterbox margins must not shift or squash its box.
        Assert.InRange(box[0], 0, width * 0.3);
        Assert.InRange(box[2], width * 0.7, width);
        Assert.InRange(box[1], 0, height * 0.4);
        Assert.InRange(box[3], height * 0.6, height);
    }

    [Fact]
    public void Bad_preprocessing_option_is_a_usage_error_naming_it()
    {
        var stderr = new StringWriter();
        int code = CliApp.Run(new[] { "classify", "zoo:emotion", "--images", TfJsReference.FixturePath("Photos"), "--layout", "sideways", "--out", Path.Combine(_dir, "p.csv") }, new StringWriter(), stderr);
        Assert.Equal(1, code);
        Assert.Contains("layout 'sideways'", stderr.ToString());
    }
}
