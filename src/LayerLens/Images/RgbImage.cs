using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Images;

/// <summary>
/// Decoded pixels as 8-bit RGB, row-major HWC. The stage between file decoding and preprocessing:
/// every source format (grey, palette, CMYK, with alpha) arrives here as three channels.
/// </summary>
public sealed class RgbImage
{
    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} is empty");
        if (pixels.Length != checked(width * height * 3))
            throw new ArgumentException($"{pixels.Length} bytes do not hold a {width}x{height} RGB image", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>R, G, B bytes for each pixel, rows top to bottom.</summary>
    public byte[] Pixels { get; }

    /// <summary>Where the image came from (a path or a description), used in error messages.</summary>
    public string Source { get; init; } = "";

    public byte this[int y, int x, int c] => Pixels[(y * Width + x) * 3 + c];

    /// <summary>The rectangle x..x+width, y..y+height (which must lie inside the image) as a new image.</summary>
    public RgbImage Crop(int x, int y, int width, int height)
    {
        if (x < 0 || y < 0 || width <= 0 || height <= 0 || x + width > Width || y + height > Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"crop {width}x{height} at ({x}, {y}) does not fit a {Width}x{Height} image");
        var px = new byte[width * height * 3];
        for (int r = 0; r < height; r++)
            Array.Copy(Pixels, ((y + r) * Width + x) * 3, px, r * width * 3, width * 3);
        return new RgbImage(width, height, px) { Source = Source };
    }

    /// <summary>Float32 CHW values in 0..1 (pixel / 255), the layout torchvision's ToTensor produces.</summary>
    public float[] ToChwFloats()
    {
        int plane = Width * Height;
        var dst = new float[plane * 3];
        var src = Pixels;
        for (int i = 0; i < plane; i++)
        {
            dst[i] = src[3 * i] / 255f;
            dst[plane + i] = src[3 * i + 1] / 255f;
            dst[2 * plane + i] = src[3 * i + 2] / 255f;
        }
        return dst;
    }

    /// <summary>A float32 tensor [3, H, W] with values in 0..1.</summary>
    public Tensor ToChwTensor()
    {
        Native.TorchRuntime.EnsureLoaded();
        // Converted in libtorch rather than through a managed float[]: same values (x / 255 in float32),
        // without a large managed allocation per image.
        using var scope = torch.NewDisposeScope();
        var hwc = torch.tensor(Pixels, new long[] { Height, Width, 3 }, ScalarType.Byte);
        return hwc.permute(2, 0, 1).to(ScalarType.Float32).div_(255f).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Builds an image from a [3, H, W] tensor with values in 0..1 (rounded, clamped).</summary>
    public static RgbImage FromChwTensor(Tensor chw)
    {
        if (chw.dim() != 3 || chw.shape[0] != 3)
            throw new LayerLensException($"expected an image tensor [3, H, W], got [{string.Join(",", chw.shape)}]", ErrorKind.Internal);
        int h = (int)chw.shape[1], w = (int)chw.shape[2];
        using var scope = torch.NewDisposeScope();
        var hwc = chw.detach().to(ScalarType.Float32).cpu().mul(255f).round().clamp(0, 255).permute(1, 2, 0).contiguous().to(ScalarType.Byte);
        return new RgbImage(w, h, hwc.data<byte>().ToArray());
    }
}
