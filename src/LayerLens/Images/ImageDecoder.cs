using SkiaSharp;

namespace LayerLens.Images;

/// <summary>
/// Decodes JPEG, PNG, BMP, GIF (first frame) and WebP through SkiaSharp into <see cref="RgbImage"/>.
/// Matches what PIL's <c>ImageOps.exif_transpose(img).convert("RGB")</c> gives, which is what
/// torchvision pipelines see: EXIF orientation applied, alpha dropped (not composited), no ICC
/// colour conversion.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Extensions treated as images when scanning folders.</summary>
    public static readonly IReadOnlySet<string> Extensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".gif", ".webp",
    };

    /// <summary>Decodes a file; an unreadable or unsupported file raises a <see cref="LayerLensException"/> naming it.</summary>
    public static RgbImage Decode(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
        {
            throw new LayerLensException($"{path}: cannot read image file ({e.Message})", ErrorKind.BadInput, e);
        }
        return Decode(bytes, path);
    }

    /// <summary>Decodes encoded bytes; <paramref name="source"/> names them in errors.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> encoded, string source = "image")
    {
        if (encoded.Length == 0) throw new LayerLensException($"{source}: not a readable image (the file is empty)");
        using var data = SKData.CreateCopy(encoded);
        // The codec takes ownership of the stream and releases it with itself.
        var stream = new SKMemoryStream(data);
        using var codec = SKCodec.Create(stream, out var result);
        if (codec == null) stream.Dispose();
        if (codec == null)
            throw new LayerLensException($"{source}: not a readable image ({Describe(result)}; JPEG, PNG, BMP, GIF and WebP are supported)");

        int w = codec.Info.Width, h = codec.Info.Height;
        if (w <= 0 || h <= 0) throw new LayerLensException($"{source}: image has no pixels ({w}x{h})");
        // Unpremultiplied RGBA without a colour space: Skia then neither premultiplies (which would
        // darken semi-transparent pixels) nor converts embedded ICC profiles, like PIL's convert("RGB").
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        // The RGBA scratch buffer is pooled: per-image large arrays would churn the large-object heap,
        // and a long extraction's peak memory would creep up with the image count.
        int bytes = checked(w * h * 4);
        var rgba = System.Buffers.ArrayPool<byte>.Shared.Rent(bytes);
        var rgb = new byte[w * h * 3];
        try
        {
            var pin = System.Runtime.InteropServices.GCHandle.Alloc(rgba, System.Runtime.InteropServices.GCHandleType.Pinned);
            SKCodecResult r;
            try
            {
                // Frame 0 is the first GIF/WebP frame; later frames are ignored on purpose.
                r = codec.GetPixels(info, pin.AddrOfPinnedObject(), new SKCodecOptions(0));
            }
            finally
            {
                pin.Free();
            }
            // IncompleteInput: a truncated file. Skia fills the rest with zeros, which would be a silent
            // fake image, so it is refused like an unreadable one.
            if (r != SKCodecResult.Success)
                throw new LayerLensException($"{source}: image could not be decoded ({Describe(r)})");
            for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
            {
                rgb[i] = rgba[j];
                rgb[i + 1] = rgba[j + 1];
                rgb[i + 2] = rgba[j + 2];
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rgba);
        }
        var img = new RgbImage(w, h, rgb) { Source = source };
        return Orient(img, codec.EncodedOrigin);
    }

    static string Describe(SKCodecResult r) => r switch
    {
        SKCodecResult.IncompleteInput => "the file is truncated",
        SKCodecResult.ErrorInInput => "the file is corrupt",
        SKCodecResult.Unimplemented => "unsupported format",
        SKCodecResult.InvalidInput => "unrecognised or corrupt data",
        _ => r.ToString(),
    };

    /// <summary>Applies an EXIF orientation so the image looks as a viewer shows it.</summary>
    public static RgbImage Orient(RgbImage img, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft || origin == 0) return img;
        int w = img.Width, h = img.Height;
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int ow = swap ? h : w, oh = swap ? w : h;
        var dst = new byte[img.Pixels.Length];
        var src = img.Pixels;
        for (int y = 0; y < oh; y++)
        {
            for (int x = 0; x < ow; x++)
            {
                // (sx, sy): the stored pixel shown at display position (x, y).
                (int sx, int sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),            // 2: mirror horizontally
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y), // 3: rotate 180
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),          // 4: mirror vertically
                    SKEncodedOrigin.LeftTop => (y, x),                      // 5: transpose
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),             // 6: rotate 90 clockwise
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),  // 7: transverse
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),           // 8: rotate 90 counter-clockwise
                    _ => (x, y),
                };
                int di = (y * ow + x) * 3, si = (sy * w + sx) * 3;
                dst[di] = src[si];
                dst[di + 1] = src[si + 1];
                dst[di + 2] = src[si + 2];
            }
        }
        return new RgbImage(ow, oh, dst) { Source = img.Source };
    }
}
