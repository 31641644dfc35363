using LayerLens.Classification;
using LayerLens.Cli;
using LayerLens.Detection;
using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Zoo;
using Xunit.Abstractions;

namespace LayerLens.Tests.TfJs;

/// <summary>zoo:blazeface finds the face in the astronaut photo; zoo:emotion classifies the crop around it.</summary>
public class FaceCropTests : IDisposable
{
    readonly ITestOutputHelper _out;
    readonly string _dir = Path.Combine(Path.GetTempPath(), "layerlens-face-" + Guid.NewGuid().ToString("N"));

    public FaceCropTests(ITestOutputHelper output)
    {
        _out = output;
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, true);

    static RgbImage Photo(string name) => ImageDecoder.Decode(TfJsReference.FixturePath("Photos", name + ".png"));

    // The astronaut's face (Eileen Collins), found by eye: x 100..180, y 25..115 of the 320x320 photo.
    const double FaceX0 = 100, FaceY0 = 25, FaceX1 = 180, FaceY1 = 115;

    [Fact]
    public void Blazeface_crop_of_the_astronaut_gives_a_plausible_face_box_and_a_7_class_emotion_distribution()
    {
        _ = TfJsReference.HumanModelsDir;
        using var cropper = FaceCropper.FromZoo(margin: 0.25);
        var photo = Photo("astronaut");
        var crop = cropper.Find(photo);
        Assert.NotNull(crop);
        var f = crop.Face;
        _out.WriteLine($"face {f.Score:0.000} [{f.X0:0.0},{f.Y0:0.0},{f.X1:0.0},{f.Y1:0.0}], crop {crop.Width}x{crop.Height} at ({crop.X},{crop.Y})");
        Assert.Equal("face", f.Label);
        Assert.True(f.Score >= 0.5f, $"face score {f.Score}");
        // The box centre lies in the face found by eye, its size is that of a face (not of the photo or of an eye),
        // and it overlaps the face found by eye by at least a third.
        double cx = (f.X0 + f.X1) / 2, cy = (f.Y0 + f.Y1) / 2;
        Assert.InRange(cx, FaceX0, FaceX1);
        Assert.InRange(cy, FaceY0, FaceY1);
        Assert.InRange(f.X1 - f.X0, 40, 130);
        Assert.InRange(f.Y1 - f.Y0, 40, 130);
        var byEye = new DetectedObject(0, "face", 1, (float)FaceX0, (float)FaceY0, (float)FaceX1, (float)FaceY1);
        Assert.True(DetectedObject.IoU(f, byEye) >= 0.33, $"IoU with the face found by eye {DetectedObject.IoU(f, byEye):0.00}");
        // The crop is a square around the box with a quarter of its size added on each side, inside the photo.
        Assert.Equal(crop.Width, crop.Height);
        Assert.Equal(Math.Round(Math.Max(f.X1 - f.X0, f.Y1 - f.Y0) * 1.5), crop.Width, 0);
        Assert.True(crop.X <= f.X0 && crop.Y <= f.Y0 && crop.X + crop.Width >= f.X1 && crop.Y + crop.Height >= f.Y1);

        using var graph = ModelLoader.Load("zoo:emotion");
        var classifier = ImageClassifier.ForZoo(graph, ModelZoo.Default().Get("emotion"));
        classifier.FaceCrop = cropper;
        var p = classifier.Probabilities(photo);
        _out.WriteLine(string.Join(", ", p.Select((v, i) => $"{classifier.Labels[i]} {v:0.000}")));
        Assert.Equal(7, p.Length);
        Assert.All(p, v => Assert.InRange(v, 0.0, 1.0));
        Assert.Equal(1.0, p.Sum(), 4);
        Assert.Equal("happy", classifier.Classify(photo, 1)[0].Label); // she smiles
        // Prepare's placement maps the 64x64 input onto the crop's square in the whole photo.
        var (input, placement) = classifier.Prepare(photo);
        input.Dispose();
        var (x0, y0) = placement.ToOriginal(0, 0);
        var (x1, y1) = placement.ToOriginal(64, 64);
        Assert.Equal(crop.X, x0, 6);
        Assert.Equal(crop.Y, y0, 6);
        Assert.Equal(crop.X + crop.Width, x1, 6);
        Assert.Equal(crop.Y + crop.Height, y1, 6);
    }

    [Fact]
    public void Classify_command_with_face_crop_classifies_faces_and_skips_photos_without_one()
    {
        _ = TfJsReference.HumanModelsDir;
        var csv = Path.Combine(_dir, "emotions.csv");
        var stderr = new StringWriter();
        int code = CliApp.Run(new[] { "classify", "zoo:emotion", "--images", TfJsReference.FixturePath("Photos"), "--face-crop", "--top", "7", "--out", csv }, new StringWriter(), stderr);
        _out.WriteLine(stderr.ToString());
        Assert.True(code == 0, stderr.ToString());
        var rows = File.ReadAllLines(csv).Skip(1).Select(r => r.Split(',')).ToList();
        var astronaut = rows.Where(r => r[0] == "astronaut").ToList();
        Assert.Equal(7, astronaut.Count);
        Assert.Equal("happy", astronaut[0][2]);
        Assert.Equal(1.0, astronaut.Sum(r => double.Parse(r[3], System.Globalization.CultureInfo.InvariantCulture)), 3);
        Assert.Contains("astronaut: happy", stderr.ToString());
        Assert.Contains("(face [", stderr.ToString());
        // The motorcycle photo has no face: listed as skipped, not classified.
        Assert.DoesNotContain(rows, r => r[0] == "motorcycle_left");
        Assert.Contains("motorcycle_left: no face found, skipped", stderr.ToString());
    }
}
