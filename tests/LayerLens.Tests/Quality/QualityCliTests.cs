using System.Globalization;
using System.Text.Json;
using LayerLens.Images;
using static TorchSharp.torch;

namespace LayerLens.Tests.Quality;

public sealed class QualityCliTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("layerlens-qcli-").FullName;
    public void Dispose() => Directory.Delete(_root, true);

    string SavePng(string fixture, string name, int? crop = null)
    {
        using var u8 = QualityFixtures.Image(fixture);
        using var img = crop is int c ? u8[TensorIndex.Colon, TensorIndex.Slice(0, c), TensorIndex.Slice(0, c)].to_type(ScalarType.Float32) / 255 : u8.to_type(ScalarType.Float32) / 255;
        var path = Path.Combine(_root, name);
        ImageEncoder.Save(RgbImage.FromChwTensor(img), path);
        return path;
    }

    static string Model => Path.Combine(AppContext.BaseDirectory, "Assets", "tiny-resnet.onnx");

    [Fact]
    public void Ssim_command_prints_the_scikit_image_value_of_a_png_pair()
    {
        var c = QualityFixtures.Cases().First(c => c.GetProperty("dist").GetString() == "chelsea96_contrast.npy");
        var a = SavePng("chelsea96.npy", "a.png");
        var b = SavePng("chelsea96_contrast.npy", "b.png");
        var (code, output, err) = TestPaths.Cli("ssim", a, b);
        Assert.True(code == 0, err);
        Assert.InRange(double.Parse(output.Trim(), CultureInfo.InvariantCulture) - c.GetProperty("ssim_rgb").GetDouble(), -2e-6, 2e-6);
        var (code2, _, err2) = TestPaths.Cli("ssim", a, Path.Combine(_root, "missing.png"));
        Assert.Equal(2, code2);
        Assert.Contains("missing.png", err2);
    }

    [Fact]
    public void Distance_command_prints_per_layer_and_combined_json()
    {
        var a = SavePng("astronaut96.npy", "a.png", 64);
        var b = SavePng("astronaut96_noise.npy", "b.png", 64);
        var (code, output, err) = TestPaths.Cli("distance", Model, a, b, "--pre", "preset=raw", "--readout", "l2", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var per = doc.RootElement.GetProperty("layers").EnumerateArray().Select(e => e.GetProperty("distance").GetDouble()).ToArray();
        Assert.True(per.Length >= 2);
        Assert.Equal(Math.Sqrt(per.Sum(d => d * d)), doc.RootElement.GetProperty("combined").GetDouble(), 6);
    }

    [Fact]
    public void Iqa_command_on_a_synthetic_set_writes_results_with_baselines_and_layers()
    {
        Directory.CreateDirectory(Path.Combine(_root, "photos"));
        using (var u8 = QualityFixtures.Image("coffee96.npy"))
        using (var img = u8[TensorIndex.Colon, TensorIndex.Slice(0, 64), TensorIndex.Slice(0, 64)].to_type(ScalarType.Float32) / 255)
            ImageEncoder.Save(RgbImage.FromChwTensor(img), Path.Combine(_root, "photos", "cup.png"));
        var outDir = Path.Combine(_root, "run");
        var (code, output, err) = TestPaths.Cli("iqa", "--model", Model, "--distort", Path.Combine(_root, "photos"), "--layers", "op:Relu",
            "--pre", "preset=raw", "--bootstrap", "100", "--out", outDir);
        Assert.True(code == 0, err + output);
        var lines = File.ReadAllLines(Path.Combine(outDir, "results.csv"));
        Assert.StartsWith("model,layer,relative_depth,readout,dataset,distortion,pairs,srocc", lines[0]);
        var ssimAll = lines.Single(l => l.StartsWith("-,-,,ssim,photos-distorted,all,"));
        Assert.Equal("50", ssimAll.Split(',')[6]);
        // The synthetic set's score is the level (DMOS-like): SSIM falls as levels rise, so its oriented SROCC is positive.
        Assert.True(double.Parse(ssimAll.Split(',')[7], CultureInfo.InvariantCulture) > 0.3, ssimAll);
        Assert.Contains(lines, l => l.Contains(",combined,,lpips,photos-distorted,all,"));
        Assert.Contains(lines, l => l.StartsWith("-,-,,psnr,photos-distorted,blur,5,"));
        var table = LayerLens.Reports.TidyTable.ReadParquet(Path.Combine(outDir, "results.parquet"));
        Assert.Equal(lines.Length - 1, table.RowCount);
        var ssimRow = Enumerable.Range(0, table.RowCount).Single(i => table.Text(i, "readout") == "ssim" && table.Text(i, "distortion") == "all");
        Assert.True(File.Exists(Path.Combine(outDir, "report.html")));
        Assert.Equal(double.Parse(ssimAll.Split(',')[7], CultureInfo.InvariantCulture), table.Number(ssimRow, "srocc"), 12);
    }
}
