using LayerLens.Images;
using LayerLens.IO;
using LayerLens.Preprocessing;
using static TorchSharp.torch;
using P = LayerLens.Preprocessing.PreprocessingSpec;

namespace LayerLens.Tests.Preprocessing;

/// <summary>
/// The options zoo models need (letterbox with its placement, channels-last grey −1..1, int32 pixels), against
/// torchvision fixtures (scripts/fixtures/make_preprocessing_fixtures.py) and against hand-computed placements.
/// </summary>
public class ZooPreprocessingTests
{
    [Fact]
    public void Letterbox_matches_torchvision_resize_then_pad_and_reports_its_placement()
    {
        using var x = Npy.Read(PreprocessingTests.Fixture("input")); // [3, 48, 64]
        var p = P.FromPreset("raw").With("resize", "40x40").With("fit", "letterbox").With("pad", "114");
        using var pre = new ImagePreprocessor(p);
        using var expected = Npy.Read(PreprocessingTests.Fixture("letterbox_40x40_pad114"));
        using var ours = pre.ApplyToUnitTensor(x);
        PreprocessingTests.AssertClose(expected, ours);
        Assert.Equal(114f / 255, ours[0, 0, 0].item<float>(), 6);
        var placement = p.Placement(48, 64);
        Assert.Equal(0.625, placement.ScaleX, 9);
        Assert.Equal(0.625, placement.ScaleY, 9);
        Assert.Equal(0, placement.PadX);
        Assert.Equal(5, placement.PadY);
        // The top-left and bottom-right corners of the picture inside the letterbox map to the photo's corners.
        Assert.Equal((0.0, 0.0), placement.ToOriginal(0, 5));
        Assert.Equal((64.0, 48.0), placement.ToOriginal(40, 35));
    }

    [Fact]
    public void Grey_signed_channels_last_matches_torchvision()
    {
        using var x = Npy.Read(PreprocessingTests.Fixture("input"));
        var p = P.FromPreset("raw").With(new Dictionary<string, string> { ["resize"] = "20x24", ["channels"] = "gray", ["range"] = "-1-1", ["layout"] = "nhwc" });
        using var pre = new ImagePreprocessor(p);
        using var expected = Npy.Read(PreprocessingTests.Fixture("gray_signed_nhwc_20x24"));
        using var ours = pre.ApplyToUnitTensor(x);
        PreprocessingTests.AssertClose(expected, ours);
    }

    [Fact]
    public void Int32_pixels_are_rounded_bytes_and_need_the_0_255_range()
    {
        var img = new RgbImage(2, 1, new byte[] { 0, 128, 255, 7, 8, 9 });
        var p = P.FromPreset("raw").With(new Dictionary<string, string> { ["range"] = "0-255", ["dtype"] = "int32", ["layout"] = "nhwc" });
        using var pre = new ImagePreprocessor(p);
        var (input, placement) = pre.Prepare(img);
        using (input)
        {
            Assert.Equal(ScalarType.Int32, input.dtype);
            Assert.Equal(new long[] { 1, 1, 2, 3 }, input.shape);
            Assert.Equal(new[] { 0, 128, 255, 7, 8, 9 }, input.data<int>().ToArray());
        }
        Assert.Equal(new LayerLens.Zoo.InputPlacement(1, 1, 0, 0, 2, 1), placement);
        var e = Assert.Throws<LayerLensException>(() => P.FromPreset("raw").With(new Dictionary<string, string> { ["dtype"] = "int32" }));
        Assert.Contains("int32 needs range 0-255", e.Message);
        Assert.Throws<LayerLensException>(() => P.FromPreset("raw").With(new Dictionary<string, string> { ["fit"] = "letterbox" }));
    }

    [Fact]
    public void Placement_of_resize_and_center_crop_maps_input_pixels_back_to_the_photo()
    {
        // 100x200 (HxW): shorter side to 50 gives 50x100, the 50x50 crop starts at x = 25 of the resized image.
        var p = P.FromPreset("raw").With("resize", "50").With("crop", "50");
        var placement = p.Placement(100, 200);
        Assert.Equal(0.5, placement.ScaleX, 9);
        Assert.Equal(-25, placement.PadX, 9);
        Assert.Equal((50.0, 0.0), placement.ToOriginal(0, 0));
        Assert.Equal((150.0, 100.0), placement.ToOriginal(50, 50));
        // A crop of a face at (30, 40) of a larger photo, restated for that photo.
        var inPhoto = new LayerLens.Zoo.InputPlacement(2, 2, 0, 0, 10, 10).InPhoto(30, 40, 300, 200);
        Assert.Equal((35.0, 45.0), inPhoto.ToOriginal(10, 10));
    }

    [Fact]
    public void New_options_round_trip_through_json_and_stay_out_of_it_at_their_defaults()
    {
        // Feature stores compare this text: defaults must not change it for stores written before the options existed.
        var plain = P.FromPreset("imagenet").ToJson();
        Assert.DoesNotContain("fit", plain);
        Assert.DoesNotContain("dtype", plain);
        Assert.DoesNotContain("\"pad\"", plain);
        var yolo = P.FromPreset("yolo");
        var back = P.FromJson((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(yolo.ToJson())!, "test");
        Assert.Equal(yolo, back);
        Assert.Equal(ResizeFit.Letterbox, back.Fit);
        Assert.Equal(114f, back.PadValue);
    }

    [Fact]
    public void Zoo_model_resolves_to_its_entry_preprocessing_and_command_line_options_override_it()
    {
        var p = P.Resolve("zoo:emotion");
        Assert.Equal(ChannelOrder.Gray, p.Channels);
        Assert.Equal(TensorLayout.Nhwc, p.Layout);
        Assert.Equal(ValueRange.Signed, p.Range);
        Assert.Equal(((int, int)?)(64, 64), p.ResizeExact);
        var q = P.Resolve("zoo:emotion", new[] { new KeyValuePair<string, string>("resize", "48x48") });
        Assert.Equal(((int, int)?)(48, 48), q.ResizeExact);
        Assert.Equal(ChannelOrder.Gray, q.Channels);
        var r = P.Resolve("zoo:nanodet", new[] { new KeyValuePair<string, string>("preset", "yolo"), new KeyValuePair<string, string>("resize", "416x416") });
        Assert.Equal(ResizeFit.Letterbox, r.Fit);
        Assert.Equal(ChannelOrder.Rgb, r.Channels);
        Assert.Equal(((int, int)?)(416, 416), r.ResizeExact);
    }
}
