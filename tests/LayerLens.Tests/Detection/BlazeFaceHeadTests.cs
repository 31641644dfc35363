using LayerLens.Classification;
using LayerLens.Detection;
using LayerLens.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Detection;

/// <summary>The BlazeFace decoder on hand-made outputs: anchors, offsets, sigmoid scores and the letterbox placement.</summary>
public class BlazeFaceHeadTests
{
    [Fact]
    public void Decodes_an_anchor_offset_box_into_photo_pixels()
    {
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        using var scope = torch.NewDisposeScope();
        var s512 = torch.full(new long[] { 1, 512, 1 }, -10f);
        var b512 = torch.zeros(1, 512, 16);
        var s384 = torch.full(new long[] { 1, 384, 1 }, -10f);
        var b384 = torch.zeros(1, 384, 16);
        // Stride 16, 2 anchors per cell: the second anchor of cell (x 5, y 7) sits at (88, 120) in the 256x256 input.
        int k = 2 * (7 * 16 + 5) + 1;
        s512[0, k, 0] = torch.tensor(2f);
        b512[0, k, 0] = torch.tensor(3f);    // centre x offset
        b512[0, k, 1] = torch.tensor(-2f);   // centre y offset
        b512[0, k, 2] = torch.tensor(40f);   // width
        b512[0, k, 3] = torch.tensor(50f);   // height
        // Stride 32, 6 anchors per cell: a weaker face at cell (x 1, y 2), anchor (48, 80), below the threshold.
        int j = 6 * (2 * 8 + 1) + 4;
        s384[0, j, 0] = torch.tensor(-1f);
        b384[0, j, 2] = torch.tensor(30f);
        b384[0, j, 3] = torch.tensor(30f);
        var outputs = new Dictionary<string, Tensor> { ["Identity:0"] = s512, ["Identity_1:0"] = s384, ["Identity_2:0"] = b512, ["Identity_3:0"] = b384 };
        // A 512x472 photo letterboxed into 256x256: scale 0.5, 9 rows of margin above.
        var placement = new InputPlacement(0.5, 0.5, 0, 9, 512, 472);
        var faces = new BlazeFaceHead().Decode(outputs, placement, 256, 256, LabelSet.FromNames("f", new[] { "face" }), new DetectionOptions(MinScore: 0.5f));
        var f = Assert.Single(faces);
        Assert.Equal("face", f.Label);
        Assert.Equal(1 / (1 + Math.Exp(-2)), f.Score, 5);
        // Input box x 71..111, y 93..143 -> photo (x / 0.5, (y - 9) / 0.5).
        Assert.Equal(142f, f.X0, 3);
        Assert.Equal(222f, f.X1, 3);
        Assert.Equal(168f, f.Y0, 3);
        Assert.Equal(268f, f.Y1, 3);
        // With a lower threshold the weaker face appears too, centred on its anchor.
        var both = new BlazeFaceHead().Decode(outputs, placement, 256, 256, LabelSet.FromNames("f", new[] { "face" }), new DetectionOptions(MinScore: 0.2f));
        Assert.Equal(2, both.Count);
        Assert.Equal((48 - 15) / 0.5f, both[1].X0, 3);
        Assert.Equal((80 - 15 - 9) / 0.5f, both[1].Y0, 3);
    }

    [Fact]
    public void Outputs_that_fit_no_anchor_grid_are_rejected_with_their_shapes()
    {
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        using var scope = torch.NewDisposeScope();
        var outputs = new Dictionary<string, Tensor> { ["s"] = torch.zeros(1, 100, 1), ["b"] = torch.zeros(1, 100, 16) };
        var e = Assert.Throws<LayerLensException>(() => new BlazeFaceHead().Decode(outputs, new InputPlacement(1, 1, 0, 0, 256, 256), 256, 256, LabelSet.FromNames("f", new[] { "face" }), new DetectionOptions()));
        Assert.Contains("100 anchors", e.Message);
    }
}
