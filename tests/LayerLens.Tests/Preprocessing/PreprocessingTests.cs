using LayerLens.Images;
using LayerLens.IO;
using LayerLens.Preprocessing;
using static TorchSharp.torch;
using P = LayerLens.Preprocessing.PreprocessingSpec;

namespace LayerLens.Tests.Preprocessing;

/// <summary>Against torchvision 0.14's tensor transforms (scripts/fixtures/make_preprocessing_fixtures.py).</summary>
public class PreprocessingTests
{
    internal static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Preprocessing", name + ".npy");

    internal static void AssertClose(Tensor expected, Tensor actual, double tol = 1e-3)
    {
        Assert.Equal(expected.shape, actual.shape);
        double maxDiff = expected.sub(actual).abs().max().item<float>();
        Assert.True(maxDiff <= tol, $"max |diff| {maxDiff:G4} > {tol}");
    }

    static Tensor Input() => Npy.Read(Fixture("input"));

    [Theory]
    [InlineData("bilinear_short30", Interpolation.Bilinear, true)]
    [InlineData("bicubic_short30", Interpolation.Bicubic, true)]
    [InlineData("bilinear_noaa_short30", Interpolation.Bilinear, false)]
    public void Shorter_side_resize_matches_torchvision(string name, Interpolation mode, bool antialias)
    {
        using var x = Input();
        var p = new P { ResizeShorter = 30, Interpolation = mode, Antialias = antialias };
        using var pre = new ImagePreprocessor(p);
        using var expected = Npy.Read(Fixture(name));
        using var ours = pre.ApplyToUnitTensor(x);
        AssertClose(expected, ours);
    }

    [Theory]
    [InlineData("bilinear_37x61", Interpolation.Bilinear, 37, 61)]
    [InlineData("bicubic_23x29", Interpolation.Bicubic, 23, 29)]
    [InlineData("bilinear_up_60x80", Interpolation.Bilinear, 60, 80)]
    [InlineData("bicubic_up_60x80", Interpolation.Bicubic, 60, 80)]
    public void Exact_resize_with_antialias_matches_torchvision(string name, Interpolation mode, int h, int w)
    {
        using var x = Input();
        using var expected = Npy.Read(Fixture(name));
        using var ours = ImagePreprocessor.Resize(x, h, w, mode, antialias: true);
        AssertClose(expected, ours);
    }

    [Theory]
    [InlineData("crop_33x45", 33, 45)]
    [InlineData("crop_pad_53x67", 53, 67)]
    public void Center_crop_matches_torchvision_including_padding(string name, int h, int w)
    {
        using var x = Input();
        using var expected = Npy.Read(Fixture(name));
        using var ours = ImagePreprocessor.CenterCrop(x, h, w);
        AssertClose(expected, ours, 0);
    }

    [Fact]
    public void Grayscale_matches_torchvision()
    {
        using var x = Input();
        using var pre = new ImagePreprocessor(new P { Channels = ChannelOrder.Gray });
        using var expected = Npy.Read(Fixture("gray"));
        using var ours = pre.ApplyToUnitTensor(x);
        AssertClose(expected, ours, 1e-6);
    }

    [Fact]
    public void Resize_crop_normalize_matches_torchvision_on_random_pixels()
    {
        using var x = Input();
        var p = P.FromPreset("imagenet").With("resize", "36").With("crop", "30");
        using var pre = new ImagePreprocessor(p);
        using var expected = Npy.Read(Fixture("imagenet_36_30"));
        using var ours = pre.ApplyToUnitTensor(x);
        AssertClose(expected, ours);
    }

    [Theory]
    [InlineData("photo_imagenet_36_30", "bilinear", "36", "30")]
    [InlineData("photo_bicubic_31_27", "bicubic", "31", "27")]
    public void Decoded_photo_preprocesses_like_torchvision(string name, string interpolation, string resize, string crop)
    {
        var img = ImageDecoder.Decode(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Images", "rgb.png"));
        var p = P.FromPreset("imagenet").With("interpolation", interpolation).With("resize", resize).With("crop", crop);
        using var pre = new ImagePreprocessor(p);
        using var expected = Npy.Read(Fixture(name));
        using var ours = pre.Apply(img);
        // The Normalize std (~0.22) scales pixel-scale differences by ~4.5, so 1e-3 on the 0..1 scale
        // corresponds to 4.5e-3 here.
        AssertClose(expected, ours, 4.5e-3);
    }

    [Fact]
    public void Caffe_preset_gives_bgr_0_255_minus_channel_means()
    {
        var img = new RgbImage(2, 2, new byte[] { 10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30 });
        var p = P.FromPreset("caffe-bgr").With("resize", "none").With("crop", "none").With("layout", "nhwc");
        using var pre = new ImagePreprocessor(p);
        using var t = pre.Apply(img);
        Assert.Equal(new long[] { 2, 2, 3 }, t.shape);
        var v = t.data<float>().ToArray();
        Assert.Equal(30 - 103.939f, v[0], 3);
        Assert.Equal(20 - 116.779f, v[1], 3);
        Assert.Equal(10 - 123.68f, v[2], 3);
    }

    [Fact]
    public void Mean_image_is_subtracted_after_center_cropping_it_to_the_output()
    {
        var dir = Directory.CreateTempSubdirectory("ll-meanimg").FullName;
        try
        {
            var path = Path.Combine(dir, "mean.npy");
            using (var mean = arange(3 * 4 * 4, ScalarType.Float32).reshape(3, 4, 4)) Npy.Write(path, mean);
            var img = new RgbImage(4, 4, Enumerable.Repeat((byte)255, 48).ToArray());
            var p = P.FromPreset("raw").With("range", "0-255").With("crop", "2").With("mean-image", path);
            using var pre = new ImagePreprocessor(p);
            using var t = pre.Apply(img);
            // Crop offset (1, 1): mean values 5, 6, 9, 10 in the first channel.
            Assert.Equal(new[] { 250f, 249f, 246f, 245f }, t[0].flatten().data<float>().ToArray());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Presets_have_the_documented_ranges()
    {
        Assert.Equal(ValueRange.Signed, P.FromPreset("lpips").Range);
        Assert.Equal(((int, int)?)(299, 299), P.FromPreset("inception").ResizeExact);
        Assert.Equal(ValueRange.Signed, P.FromPreset("inception").Range);
        Assert.Equal(ChannelOrder.Bgr, P.FromPreset("caffe-bgr").Channels);
        Assert.Equal(((int, int)?)(224, 224), P.FromPreset("imagenet").CenterCrop);
        var e = Assert.Throws<LayerLensException>(() => P.FromPreset("nope"));
        Assert.Contains("imagenet", e.Message);
    }

    [Fact]
    public void Sidecar_sets_preprocessing_and_command_line_overrides_it()
    {
        var dir = Directory.CreateTempSubdirectory("ll-sidecar").FullName;
        try
        {
            var model = Path.Combine(dir, "net.onnx");
            File.WriteAllText(model, "");
            File.WriteAllText(Path.Combine(dir, "net.layerlens.json"),
                "{\"preprocessing\": {\"preset\": \"caffe-bgr\", \"crop\": \"227\", \"mean\": [1, 2, 3]}}");
            var fromSidecar = P.Resolve(model);
            Assert.Equal(ChannelOrder.Bgr, fromSidecar.Channels);
            Assert.Equal(((int, int)?)(227, 227), fromSidecar.CenterCrop);
            Assert.Equal(new[] { 1f, 2f, 3f }, fromSidecar.Mean);
            var overridden = P.Resolve(model, new Dictionary<string, string> { ["crop"] = "200x210", ["channels"] = "rgb" });
            Assert.Equal(((int, int)?)(200, 210), overridden.CenterCrop);
            Assert.Equal(ChannelOrder.Rgb, overridden.Channels);
            Assert.Equal(ValueRange.Byte, overridden.Range);

            File.WriteAllText(Path.Combine(dir, "net.layerlens.json"), "{\"preprocessing\": {\"range\": \"0-7\"}}");
            var e = Assert.Throws<LayerLensException>(() => P.Resolve(model));
            Assert.Contains("net.layerlens.json", e.Message);
            Assert.Contains("0-7", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Json_round_trip_preserves_settings_and_equality_uses_them()
    {
        var p = P.FromPreset("clip").With("layout", "nhwc");
        var back = P.FromJson((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(p.ToJson())!, "test");
        Assert.Equal(p.ToJson(), back.ToJson());
        Assert.Equal(p, back);
        Assert.NotEqual(p, p.With("resize", "225"));
    }
}
