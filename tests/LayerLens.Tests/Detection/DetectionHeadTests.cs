using LayerLens.Classification;
using LayerLens.Detection;
using LayerLens.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.Detection;

/// <summary>Heads decoded on small synthetic outputs whose boxes are worked out by hand.</summary>
public class DetectionHeadTests
{
    static readonly LabelSet Two = LabelSet.FromNames("two", new[] { "a", "b" });
    // A 100x50 photo letterboxed into 100x100: scale 1, 25 pixels of padding above.
    static readonly InputPlacement Letterbox = new(1, 1, 0, 25, 100, 50);

    public DetectionHeadTests() => LayerLens.Native.TorchRuntime.EnsureLoaded();

    [Fact]
    public void YoloV8_layout_decodes_centre_boxes_and_undoes_the_letterbox()
    {
        // [1, 4+2, 2]: box 0 = (50, 50, 20, 10) class b 0.9; box 1 below threshold.
        var v = new float[] { 50, 10, 50, 10, 20, 4, 10, 4, 0.1f, 0.05f, 0.9f, 0.1f };
        using var t = torch.tensor(v, new long[] { 1, 6, 2 });
        var dets = new YoloV8Head().Decode(new Dictionary<string, Tensor> { ["out"] = t }, Letterbox, 100, 100, Two, new DetectionOptions(0.3f));
        var d = Assert.Single(dets);
        Assert.Equal("b", d.Label);
        Assert.Equal(0.9f, d.Score);
        Assert.Equal(new[] { 40f, 20f, 60f, 30f }, new[] { d.X0, d.Y0, d.X1, d.Y1 });
    }

    [Fact]
    public void YoloV5_layout_multiplies_objectness_and_class_score()
    {
        // [1, 1, 5+2]: (50, 50, 20, 10), objectness 0.5, classes (0.8, 0.2) -> a with 0.4.
        using var t = torch.tensor(new float[] { 50, 50, 20, 10, 0.5f, 0.8f, 0.2f }, new long[] { 1, 1, 7 });
        var d = Assert.Single(new YoloV5Head().Decode(new Dictionary<string, Tensor> { ["out"] = t }, Letterbox, 100, 100, Two, new DetectionOptions(0.3f)));
        Assert.Equal("a", d.Label);
        Assert.Equal(0.4f, d.Score, 6);
        Assert.Equal(new[] { 40f, 20f, 60f, 30f }, new[] { d.X0, d.Y0, d.X1, d.Y1 });
    }

    [Fact]
    public void NanoDet_gfl_distributions_give_expected_distances_from_the_cell_centre()
    {
        // 32x32 input: strides 8 (16 cells), 16 (4), 32 (1). One confident cell: stride 8, cell 5 = column 1, row 1,
        // centre (12, 12). All four sides put their mass on bin 1, so each side is 1 x 8 = 8 pixels away.
        var identity = new InputPlacement(1, 1, 0, 0, 32, 32);
        var outputs = new Dictionary<string, Tensor>();
        foreach (var (stride, n) in new[] { (8, 16), (16, 4), (32, 1) })
        {
            var cls = torch.zeros(1, n, 2);
            var box = torch.full(new long[] { 1, n, 44 }, -20f);
            if (stride == 8)
            {
                cls[0, 5, 1] = torch.tensor(0.8f);
                for (int side = 0; side < 4; side++) box[0, 5, side * 11 + 1] = torch.tensor(20f);
            }
            outputs[$"cls{stride}"] = cls;
            outputs[$"box{stride}"] = box;
        }
        var d = Assert.Single(new NanoDetHead().Decode(outputs, identity, 32, 32, Two, new DetectionOptions(0.5f)));
        Assert.Equal("b", d.Label);
        Assert.Equal(4f, d.X0, 3);
        Assert.Equal(4f, d.Y0, 3);
        Assert.Equal(20f, d.X1, 3);
        Assert.Equal(20f, d.Y1, 3);
        foreach (var t in outputs.Values) t.Dispose();
    }

    [Fact]
    public void Nms_suppresses_overlaps_within_a_class_only()
    {
        var boxes = new[]
        {
            new DetectedObject(0, "a", 0.9f, 0, 0, 10, 10),
            new DetectedObject(0, "a", 0.8f, 1, 1, 11, 11),   // IoU 81/119 = 0.68 with the first: dropped
            new DetectedObject(1, "b", 0.7f, 1, 1, 11, 11),   // other class: kept
            new DetectedObject(0, "a", 0.6f, 20, 20, 30, 30), // no overlap: kept
        };
        var kept = NonMaxSuppression.PerClass(boxes, 0.5f, 100);
        Assert.Equal(new[] { 0.9f, 0.7f, 0.6f }, kept.Select(k => k.Score));
    }

    [Fact]
    public void Classifier_applies_softmax_to_logits_but_keeps_probabilities()
    {
        using var logits = torch.tensor(new float[] { 0, (float)Math.Log(3) });
        var p = Classifier.Probabilities(logits);
        Assert.Equal(0.25, p[0], 6);
        Assert.Equal(0.75, p[1], 6);
        using var probs = torch.tensor(new float[] { 0.3f, 0.7f });
        Assert.Equal(0.3, Classifier.Probabilities(probs)[0], 6);
        var top = Classifier.TopK(p, Two, 1);
        Assert.Equal(("b", 1), (top[0].Label, top[0].Rank));
    }
}
