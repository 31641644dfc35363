using SkiaSharp;

namespace LayerLens.Images;

/// <summary>Encoded image formats LayerLens writes.</summary>
public enum ImageFormat { Png, Jpeg }

/// <summary>Encodes <see cref="RgbImage"/> as PNG or JPEG (overlays, reports, JPEG distortions).</summary>
public static class ImageEncoder
{
    /// <summary>Encodes to bytes; <paramref name="quality"/> (1..100) applies to JPEG only.</summary>
    public static byte[] Encode(RgbImage image, ImageFormat format, int quality = 90)
    {
        if (quality < 1 || quality > 100)
            throw new LayerLensException($"JPEG quality {quality} is outside 1..100", ErrorKind.Usage);
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        var rgba = new byte[image.Width * image.Height * 4];
        var src = image.Pixels;
        for (int i = 0, j = 0; i < src.Length; i += 3, j += 4)
        {
            rgba[j] = src[i];
            rgba[j + 1] = src[i + 1];
            rgba[j + 2] = src[i + 2];
            rgba[j + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var pixmap = bitmap.PeekPixels();
        using SKData? data = format switch
        {
            ImageFormat.Png => pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.AllFilters, 6)),
            ImageFormat.Jpeg => pixmap.Encode(new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore)),
            _ => null,
        };
        if (data == null) throw new LayerLensException($"could not encode a {image.Width}x{image.Height} image as {format}", ErrorKind.Internal);
        return data.ToArray();
    }

    /// <summary>Writes an encoded image atomically (temp file, then rename); format from the extension.</summary>
    public static void Save(RgbImage image, string path, int quality = 90)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        var format = ext switch
        {
            ".png" => ImageFormat.Png,
            ".jpg" or ".jpeg" => ImageFormat.Jpeg,
            _ => throw new LayerLensException($"{path}: can only write .png or .jpg images", ErrorKind.Usage),
        };
        var bytes = Encode(image, format, quality);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}
