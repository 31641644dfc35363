using LayerLens.Images;
using LayerLens.IO;

namespace LayerLens.Tests.Images;

/// <summary>Decoded pixels against PIL's (exif_transpose + convert("RGB")), from scripts/fixtures/make_image_fixtures.py.</summary>
public class ImageDecoderTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Images", name);

    static (RgbImage Ours, byte[] Ref, long H, long W) DecodeBoth(string name)
    {
        var ours = ImageDecoder.Decode(Fixture(name));
        using var reference = Npy.Read(Fixture(name + ".npy"));
        return (ours, reference.data<byte>().ToArray(), reference.shape[0], reference.shape[1]);
    }

    [Theory]
    [InlineData("rgb.png")]
    [InlineData("gray.png")]
    [InlineData("palette.png")]
    [InlineData("rgba.png")]
    [InlineData("rgb.bmp")]
    [InlineData("rgb.webp")]
    [InlineData("anim.gif")]
    public void Lossless_formats_decode_to_the_same_RGB_bytes_as_PIL(string name)
    {
        var (ours, reference, h, w) = DecodeBoth(name);
        Assert.Equal((h, w), ((long)ours.Height, (long)ours.Width));
        Assert.Equal(reference, ours.Pixels);
    }

    [Theory]
    [InlineData("rgb.jpg")]
    [InlineData("gray.jpg")]
    [InlineData("cmyk.jpg")]
    [InlineData("exif1.jpg")]
    [InlineData("exif2.jpg")]
    [InlineData("exif3.jpg")]
    [InlineData("exif4.jpg")]
    [InlineData("exif5.jpg")]
    [InlineData("exif6.jpg")]
    [InlineData("exif7.jpg")]
    [InlineData("exif8.jpg")]
    public void Jpeg_decodes_like_PIL_with_EXIF_orientation_applied(string name)
    {
        var (ours, reference, h, w) = DecodeBoth(name);
        Assert.Equal((h, w), ((long)ours.Height, (long)ours.Width));
        // Both sides use libjpeg-turbo, but chroma upsampling may differ by a grey level or two;
        // a wrong orientation or colour conversion would give differences of tens.
        double sum = 0;
        int max = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            int d = Math.Abs(reference[i] - ours.Pixels[i]);
            sum += d;
            max = Math.Max(max, d);
        }
        Assert.True(sum / reference.Length < 1.0, $"mean |diff| {sum / reference.Length:F3}");
        Assert.True(max <= 8, $"max |diff| {max}");
    }

    [Fact]
    public void Exif_rotation_swaps_width_and_height()
    {
        var upright = ImageDecoder.Decode(Fixture("exif1.jpg"));
        var rotated = ImageDecoder.Decode(Fixture("exif6.jpg"));
        Assert.Equal((80, 52), (upright.Width, upright.Height));
        Assert.Equal((52, 80), (rotated.Width, rotated.Height));
    }

    [Theory]
    [InlineData("truncated.jpg", "truncated")]
    [InlineData("not-an-image.png", "not a readable image")]
    [InlineData("missing.jpg", "cannot read")]
    public void Unreadable_image_raises_an_error_naming_the_path(string name, string reason)
    {
        var path = Fixture(name);
        var e = Assert.Throws<LayerLensException>(() => ImageDecoder.Decode(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(reason, e.Message);
        Assert.Equal(ErrorKind.BadInput, e.Kind);
    }

    [Fact]
    public void Png_encoding_round_trips_exactly_and_jpeg_quality_controls_loss()
    {
        var img = ImageDecoder.Decode(Fixture("rgb.png"));
        var png = ImageDecoder.Decode(ImageEncoder.Encode(img, ImageFormat.Png));
        Assert.Equal(img.Pixels, png.Pixels);
        double Err(int q)
        {
            var back = ImageDecoder.Decode(ImageEncoder.Encode(img, ImageFormat.Jpeg, q));
            return img.Pixels.Zip(back.Pixels, (a, b) => Math.Abs(a - b)).Average();
        }
        double e10 = Err(10), e95 = Err(95);
        Assert.True(e95 < 2.5, $"q95 mean error {e95}");
        Assert.True(e10 > 2 * e95, $"q10 error {e10} should exceed q95 error {e95}");
    }

    [Fact]
    public void Chw_tensor_holds_pixels_over_255_in_channel_planes()
    {
        var img = new RgbImage(2, 1, new byte[] { 255, 0, 51, 0, 102, 255 });
        using var t = img.ToChwTensor();
        Assert.Equal(new long[] { 3, 1, 2 }, t.shape);
        Assert.Equal(new[] { 1f, 0f, 0f, 0.4f, 0.2f, 1f }, t.data<float>().ToArray(), new FloatTol(1e-6f));
        var back = RgbImage.FromChwTensor(t);
        Assert.Equal(img.Pixels, back.Pixels);
    }

    sealed class FloatTol(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(float f) => 0;
    }
}
