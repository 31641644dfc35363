using LayerLens.Detection;
using LayerLens.Explain.Corpus;
using LayerLens.Images;
using LayerLens.Stats;

namespace LayerLens.Tests.Explain;

/// <summary>Image edits (pixel values worked out by hand) and the statistics of their effect on a classifier.</summary>
public class ImageModificationTests
{
    static RgbImage Image(int w, int h, Func<int, int, int, byte> f)
    {
        var px = new byte[w * h * 3];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) for (int c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = f(x, y, c);
        return new RgbImage(w, h, px);
    }

    static readonly DetectedObject Person = new(0, "person", 0.9f, 2, 1, 4, 3);   // pixels x 2..3, y 1..2

    [Fact]
    public void Parses_the_cli_list_with_defaults_and_rejects_unknown_edits()
    {
        var list = ImageModification.ParseList("remove:person, mask:dog:noise ,paste:cup,grayscale,hflip,crop,brightness:0.5,contrast,blur:3,jpeg:15,grayscale");
        Assert.Equal(new[] { "remove:person:grey", "remove:dog:noise", "paste:cup", "grayscale", "hflip", "crop:0.8", "brightness:0.5", "contrast:0.5", "blur:3", "jpeg:15" },
            list.Select(m => m.Name));
        Assert.Equal(ErrorKind.Usage, Assert.Throws<LayerLensException>(() => ImageModification.ParseList("sharpen")).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<LayerLensException>(() => ImageModification.ParseList("remove")).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<LayerLensException>(() => ImageModification.ParseList("jpeg:0")).Kind);
        Assert.Equal(ErrorKind.Usage, Assert.Throws<LayerLensException>(() => ImageModification.ParseList("remove:cat:paint")).Kind);
        Assert.Empty(ImageModification.ParseList(null));
    }

    [Fact]
    public void Global_edits_give_the_hand_worked_pixels()
    {
        var img = Image(6, 4, (x, y, c) => (byte)(c == 0 ? 10 + x : c == 1 ? 200 : 30 + y));
        var grey = ImageEditor.Apply(ImageModification.Parse("grayscale"), img, Array.Empty<DetectedObject>(), 0)!;
        // (10, 200, 30) → 0.299·10 + 0.587·200 + 0.114·30 = 123.81 → 124, on all three channels.
        Assert.Equal(new byte[] { 124, 124, 124 }, grey.Pixels.Take(3).ToArray());
        var flip = ImageEditor.Apply(ImageModification.Parse("hflip"), img, Array.Empty<DetectedObject>(), 0)!;
        Assert.Equal(15, flip[0, 0, 0]);
        Assert.Equal(10, flip[0, 5, 0]);
        var crop = ImageEditor.Apply(ImageModification.Parse("crop:0.5"), img, Array.Empty<DetectedObject>(), 0)!;
        Assert.Equal((3, 2), (crop.Width, crop.Height));
        Assert.Equal(11, crop[0, 0, 0]);    // offset ((6 − 3) / 2, (4 − 2) / 2) = (1, 1)
        Assert.Equal(31, crop[0, 0, 2]);
        var bright = ImageEditor.Apply(ImageModification.Parse("brightness:1.5"), img, Array.Empty<DetectedObject>(), 0)!;
        Assert.Equal(new byte[] { 15, 255, 45 }, bright.Pixels.Take(3).ToArray());   // 200·1.5 clips at 255
        // Contrast 0.5 around the mean grey level (PIL): luma of pixel x, y = 0.299(10 + x) + 117.4 + 0.114(30 + y).
        double sum = 0;
        for (int y = 0; y < 4; y++) for (int x = 0; x < 6; x++) sum += Math.Round(0.299 * (10 + x) + 117.4 + 0.114 * (30 + y));
        double mean = Math.Floor(sum / 24 + 0.5);
        var con = ImageEditor.Apply(ImageModification.Parse("contrast:0.5"), img, Array.Empty<DetectedObject>(), 0)!;
        Assert.Equal((byte)Math.Round(mean + 0.5 * (200 - mean)), con[0, 0, 1]);
        // Blur keeps a constant image constant; JPEG at quality 10 changes a textured one.
        var flat = Image(8, 8, (_, _, c) => (byte)(40 * (c + 1)));
        Assert.Equal(flat.Pixels, ImageEditor.Apply(ImageModification.Parse("blur:2"), flat, Array.Empty<DetectedObject>(), 0)!.Pixels);
        var texture = Image(32, 32, (x, y, c) => (byte)((x * 37 + y * 91 + c * 53) % 256));
        var jpeg = ImageEditor.Apply(ImageModification.Parse("jpeg:10"), texture, Array.Empty<DetectedObject>(), 0)!;
        Assert.Equal((32, 32), (jpeg.Width, jpeg.Height));
        Assert.True(jpeg.Pixels.Zip(texture.Pixels).Count(p => p.First != p.Second) > 500);
    }

    [Fact]
    public void Removal_fills_only_the_boxes_of_the_category_and_does_not_apply_without_one()
    {
        var img = Image(6, 4, (x, y, c) => (byte)(50 + 10 * x + y));
        var dog = new DetectedObject(1, "dog", 0.9f, 0, 0, 1, 1);
        var grey = ImageEditor.Apply(ImageModification.Parse("remove:person"), img, new[] { Person, dog }, 0)!;
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++)
            {
                bool inside = x is >= 2 and <= 3 && y is >= 1 and <= 2;
                Assert.Equal(inside ? 128 : img[y, x, 0], grey[y, x, 0]);
            }
        var mean = ImageEditor.Apply(ImageModification.Parse("remove:person:mean"), img, new[] { Person }, 0)!;
        Assert.Equal(Math.Round(img.Pixels.Where((_, i) => i % 3 == 0).Average(b => (double)b)), mean[1, 2, 0]);
        var n1 = ImageEditor.Apply(ImageModification.Parse("remove:person:noise"), img, new[] { Person }, 5)!;
        var n2 = ImageEditor.Apply(ImageModification.Parse("remove:person:noise"), img, new[] { Person }, 5)!;
        var n3 = ImageEditor.Apply(ImageModification.Parse("remove:person:noise"), img, new[] { Person }, 6)!;
        Assert.Equal(n1.Pixels, n2.Pixels);          // seeded
        Assert.NotEqual(n1.Pixels, n3.Pixels);
        Assert.Equal(img[0, 0, 0], n1[0, 0, 0]);
        Assert.Null(ImageEditor.Apply(ImageModification.Parse("remove:cat"), img, new[] { Person }, 0));
    }

    [Fact]
    public void Paste_puts_the_crop_at_the_centre_at_its_source_relative_size()
    {
        var target = Image(10, 10, (_, _, _) => 0);
        var crop = Image(2, 2, (_, _, _) => 255);
        // The crop spanned 20% × 40% of its source image → 2 × 4 pixels here, placed at ((10 − 2) / 2, (10 − 4) / 2) = (4, 3).
        var src = new PasteSource("s", crop, 0.2, 0.4);
        var pasted = ImageEditor.Apply(new ImageModification.Paste("person"), target, Array.Empty<DetectedObject>(), 0, src)!;
        int white = 0;
        for (int y = 0; y < 10; y++) for (int x = 0; x < 10; x++) if (pasted[y, x, 0] == 255) { white++; Assert.InRange(x, 4, 5); Assert.InRange(y, 3, 6); }
        Assert.Equal(8, white);
        Assert.Null(ImageEditor.Apply(new ImageModification.Paste("person"), target, new[] { Person }, 0, src));   // already there
    }

    [Fact]
    public void Outcome_and_effect_statistics_follow_their_definitions()
    {
        var o = ModificationOutcome.Of(new[] { 0.7, 0.2, 0.1 }, new[] { 0.3, 0.6, 0.1 });
        Assert.True(o.Changed);
        Assert.Equal((0, 1), (o.OriginalClass, o.ModifiedClass));
        Assert.Equal(-0.4, o.ProbabilityChange, 12);
        // KL = 0.7 ln(0.7/0.3) + 0.2 ln(0.2/0.6) + 0.1 ln 1 = 0.593109 − 0.219722 = 0.373387 nats.
        Assert.Equal(0.7 * Math.Log(7.0 / 3) + 0.2 * Math.Log(1.0 / 3), o.KlDivergence, 12);
        Assert.Equal(0.373387, o.KlDivergence, 5);
        Assert.Equal(0.0, ModificationOutcome.Of(new[] { 0.5, 0.5 }, new[] { 0.5, 0.5 }).KlDivergence, 15);

        var outcomes = new List<ModificationOutcome>();
        for (int i = 0; i < 20; i++) outcomes.Add(new ModificationOutcome(i % 2, i < 5 ? 1 - i % 2 : i % 2, -0.01 * i, 0.02 * i));
        var rows = ModificationStatistics.Summarise("x", outcomes, new[] { "a", "b" }, resamples: 2000, seed: 4);
        Assert.Equal(new[] { "all", "a", "b" }, rows.Select(r => r.Group));
        var all = rows[0];
        Assert.Equal(20, all.Images);
        Assert.Equal(5 / 20.0, all.ChangeRate.Estimate, 12);
        Assert.Equal(-0.095, all.MeanProbabilityChange.Estimate, 12);
        Assert.Equal(0.19, all.MeanKl.Estimate, 12);
        // The interval is Resampling.Bootstrap's percentile interval of the mean.
        var changed = outcomes.Select(x => x.Changed ? 1.0 : 0.0).ToArray();
        var ci = Resampling.Bootstrap(20, idx => idx.Average(i => changed[i]), 2000, 0.95, 4);
        Assert.Equal((ci.Low, ci.High), (all.ChangeRate.Low, all.ChangeRate.High));
        Assert.True(ci.Low < 0.25 && ci.High > 0.25 && ci.Low >= 0.05);
        Assert.Equal(10, rows[1].Images);
        Assert.Equal(3 / 10.0, rows[1].ChangeRate.Estimate, 12);    // class a = even i; changed for i 0, 2, 4
    }
}
