using System.Globalization;
using LayerLens.Detection;
using LayerLens.Images;

namespace LayerLens.Explain.Corpus;

/// <summary>How a removed object's box is filled.</summary>
public enum RemovalFill { Grey, Mean, Noise, Blur }

/// <summary>
/// An image edit whose effect on the classifier is measured. Written on the CLI as a comma-separated list:
/// <c>remove:CATEGORY[:grey|mean|noise|blur]</c> (alias <c>mask:</c>), <c>paste:CATEGORY</c>, <c>grayscale</c>, <c>hflip</c>,
/// <c>crop[:FRACTION]</c>, <c>brightness[:FACTOR]</c>, <c>contrast[:FACTOR]</c>, <c>blur[:SIGMA]</c>, <c>jpeg[:QUALITY]</c>.
/// </summary>
public abstract record ImageModification
{
    /// <summary>The canonical text (what tables and file names show).</summary>
    public abstract string Name { get; }

    public sealed record Remove(string Category, RemovalFill Fill) : ImageModification
    { public override string Name => $"remove:{Category}:{Fill.ToString().ToLowerInvariant()}"; }
    public sealed record Paste(string Category) : ImageModification { public override string Name => $"paste:{Category}"; }
    public sealed record Grayscale : ImageModification { public override string Name => "grayscale"; }
    public sealed record HFlip : ImageModification { public override string Name => "hflip"; }
    /// <summary>Central crop keeping <paramref name="Fraction"/> of width and height.</summary>
    public sealed record Crop(double Fraction) : ImageModification { public override string Name => $"crop:{F(Fraction)}"; }
    /// <summary>Pixel values multiplied by the factor (PIL ImageEnhance.Brightness).</summary>
    public sealed record Brightness(double Factor) : ImageModification { public override string Name => $"brightness:{F(Factor)}"; }
    /// <summary>Blend with the mean grey level: mean + factor · (pixel − mean) (PIL ImageEnhance.Contrast).</summary>
    public sealed record Contrast(double Factor) : ImageModification { public override string Name => $"contrast:{F(Factor)}"; }
    /// <summary>Gaussian blur, σ in pixels of the original image.</summary>
    public sealed record Blur(double Sigma) : ImageModification { public override string Name => $"blur:{F(Sigma)}"; }
    public sealed record Jpeg(int Quality) : ImageModification { public override string Name => $"jpeg:{Quality}"; }

    static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>Parses the CLI list ("remove:person,grayscale,jpeg:20"); an unknown edit is a usage error.</summary>
    public static IReadOnlyList<ImageModification> ParseList(string? text)
    {
        var list = new List<ImageModification>();
        if (string.IsNullOrWhiteSpace(text)) return list;
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var m = Parse(raw);
            if (!list.Any(x => x.Name == m.Name)) list.Add(m);
        }
        return list;
    }

    public static ImageModification Parse(string text)
    {
        var parts = text.Split(':', StringSplitOptions.TrimEntries);
        string kind = parts[0].ToLowerInvariant();
        string? arg = parts.Length > 1 ? parts[1] : null;
        double Num(double dflt, double min, double max)
        {
            if (arg == null) return dflt;
            if (!double.TryParse(arg, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
                throw new LayerLensException($"modification '{text}': '{arg}' is not a number in [{min}, {max}]", ErrorKind.Usage);
            return v;
        }
        ImageModification result = kind switch
        {
            "remove" or "mask" => new Remove(arg is { Length: > 0 } ? arg : throw new LayerLensException($"modification '{text}': give a category, e.g. remove:person", ErrorKind.Usage),
                parts.Length > 2 ? ParseFill(parts[2], text) : RemovalFill.Grey),
            "paste" => new Paste(arg is { Length: > 0 } ? arg : throw new LayerLensException($"modification '{text}': give a category, e.g. paste:dog", ErrorKind.Usage)),
            "grayscale" or "greyscale" or "gray" or "grey" => new Grayscale(),
            "hflip" or "flip" => new HFlip(),
            "crop" => new Crop(Num(0.8, 0.05, 1)),
            "brightness" => new Brightness(Num(1.5, 0, 10)),
            "contrast" => new Contrast(Num(0.5, 0, 10)),
            "blur" => new Blur(Num(2, 0.1, 100)),
            "jpeg" => new Jpeg((int)Num(20, 1, 100)),
            _ => throw new LayerLensException($"unknown modification '{text}' (known: remove:CATEGORY[:grey|mean|noise|blur], mask:CATEGORY, paste:CATEGORY, grayscale, hflip, crop[:F], brightness[:F], contrast[:F], blur[:SIGMA], jpeg[:Q])", ErrorKind.Usage),
        };
        int maxParts = kind is "remove" or "mask" ? 3 : 2;
        if (parts.Length > maxParts) throw new LayerLensException($"modification '{text}' has too many ':' parts", ErrorKind.Usage);
        return result;
    }

    static RemovalFill ParseFill(string s, string text) => s.ToLowerInvariant() switch
    {
        "grey" or "gray" => RemovalFill.Grey,
        "mean" => RemovalFill.Mean,
        "noise" => RemovalFill.Noise,
        "blur" => RemovalFill.Blur,
        _ => throw new LayerLensException($"modification '{text}': fill '{s}' is not grey, mean, noise or blur", ErrorKind.Usage),
    };
}

/// <summary>An object crop to paste, with its size relative to the image it came from.</summary>
public sealed record PasteSource(string ImageId, RgbImage Crop, double RelativeWidth, double RelativeHeight);

/// <summary>Applies <see cref="ImageModification"/>s to images (pure managed pixel code, deterministic given the seed).</summary>
public static class ImageEditor
{
    /// <summary>
    /// The edited image, or null when the edit does not apply (removal: no box of the category; paste: the image already
    /// shows the category, or no crop). <paramref name="objects"/> are the image's detections (original pixels) that passed
    /// the detection filter.
    /// </summary>
    public static RgbImage? Apply(ImageModification m, RgbImage image, IReadOnlyList<DetectedObject> objects, int seed, PasteSource? paste = null) => m switch
    {
        ImageModification.Remove r => RemoveObjects(image, objects.Where(o => o.Label == r.Category).ToList(), r.Fill, seed),
        ImageModification.Paste p => paste == null || objects.Any(o => o.Label == p.Category) ? null : PasteCentre(image, paste),
        ImageModification.Grayscale => Grayscale(image),
        ImageModification.HFlip => HFlip(image),
        ImageModification.Crop c => CentralCrop(image, c.Fraction),
        ImageModification.Brightness b => Map(image, v => v * b.Factor),
        ImageModification.Contrast c => ContrastEdit(image, c.Factor),
        ImageModification.Blur b => GaussianBlur(image, b.Sigma),
        ImageModification.Jpeg j => ImageDecoder.Decode(ImageEncoder.Encode(image, ImageFormat.Jpeg, j.Quality), image.Source),
        _ => throw new LayerLensException($"modification {m.Name} is not implemented", ErrorKind.Internal),
    };

    static byte Clamp(double v) => (byte)Math.Clamp(Math.Round(v), 0, 255);

    static RgbImage Map(RgbImage img, Func<double, double> f)
    {
        var px = new byte[img.Pixels.Length];
        for (int i = 0; i < px.Length; i++) px[i] = Clamp(f(img.Pixels[i]));
        return new RgbImage(img.Width, img.Height, px) { Source = img.Source };
    }

    /// <summary>ITU-R 601-2 luma L = 0.299 R + 0.587 G + 0.114 B (PIL's convert('L')), copied to three channels.</summary>
    public static RgbImage Grayscale(RgbImage img)
    {
        var px = new byte[img.Pixels.Length];
        var s = img.Pixels;
        for (int i = 0; i < px.Length; i += 3)
            px[i] = px[i + 1] = px[i + 2] = Clamp(0.299 * s[i] + 0.587 * s[i + 1] + 0.114 * s[i + 2]);
        return new RgbImage(img.Width, img.Height, px) { Source = img.Source };
    }

    public static RgbImage HFlip(RgbImage img)
    {
        var px = new byte[img.Pixels.Length];
        int w = img.Width;
        for (int y = 0; y < img.Height; y++)
            for (int x = 0; x < w; x++)
                Array.Copy(img.Pixels, (y * w + x) * 3, px, (y * w + (w - 1 - x)) * 3, 3);
        return new RgbImage(w, img.Height, px) { Source = img.Source };
    }

    public static RgbImage CentralCrop(RgbImage img, double fraction)
    {
        int w = Math.Max(1, (int)Math.Round(img.Width * fraction)), h = Math.Max(1, (int)Math.Round(img.Height * fraction));
        return img.Crop((img.Width - w) / 2, (img.Height - h) / 2, w, h);
    }

    static RgbImage ContrastEdit(RgbImage img, double factor)
    {
        double sum = 0;
        var s = img.Pixels;
        for (int i = 0; i < s.Length; i += 3) sum += Math.Round(0.299 * s[i] + 0.587 * s[i + 1] + 0.114 * s[i + 2]);
        double mean = Math.Floor(sum / (img.Width * img.Height) + 0.5);
        return Map(img, v => mean + factor * (v - mean));
    }

    static int BlurRadius(double sigma) => Math.Max(1, (int)Math.Ceiling(3 * sigma));

    /// <summary>Separable Gaussian blur (radius ⌈3σ⌉, edges replicated).</summary>
    public static RgbImage GaussianBlur(RgbImage img, double sigma)
    {
        int r = BlurRadius(sigma);
        var k = new double[2 * r + 1];
        double ks = 0;
        for (int i = -r; i <= r; i++) ks += k[i + r] = Math.Exp(-i * i / (2 * sigma * sigma));
        for (int i = 0; i < k.Length; i++) k[i] /= ks;
        int w = img.Width, h = img.Height;
        var tmp = new double[w * h * 3];
        var s = img.Pixels;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    double acc = 0;
                    for (int i = -r; i <= r; i++) acc += k[i + r] * s[(y * w + Math.Clamp(x + i, 0, w - 1)) * 3 + c];
                    tmp[(y * w + x) * 3 + c] = acc;
                }
        var px = new byte[s.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    double acc = 0;
                    for (int i = -r; i <= r; i++) acc += k[i + r] * tmp[(Math.Clamp(y + i, 0, h - 1) * w + x) * 3 + c];
                    px[(y * w + x) * 3 + c] = Clamp(acc);
                }
        return new RgbImage(w, h, px) { Source = img.Source };
    }

    /// <summary>Fills each box: grey 128, the image's mean colour, uniform noise (seeded) or the image blurred with σ = box size / 8.</summary>
    public static RgbImage? RemoveObjects(RgbImage img, IReadOnlyList<DetectedObject> boxes, RemovalFill fill, int seed)
    {
        if (boxes.Count == 0) return null;
        var px = (byte[])img.Pixels.Clone();
        int w = img.Width, h = img.Height;
        var mean = new double[3];
        if (fill == RemovalFill.Mean)
        {
            for (int i = 0; i < px.Length; i++) mean[i % 3] += px[i];
            for (int c = 0; c < 3; c++) mean[c] = Math.Round(mean[c] / (w * h));
        }
        var rng = new Random(seed);
        foreach (var b in boxes)
        {
            var (x0, y0, x1, y1) = BoxCam.PixelRange(b, w, h);
            // The blur fill only needs the box's pixels: blur the window of the box grown by the kernel radius (clamped to
            // the image). Edges are replicated only at image edges, which the window keeps, and every box pixel's taps in both
            // passes lie inside the window, so the box's values equal those of blurring the whole image.
            RgbImage? window = null;
            int wx0 = 0, wy0 = 0;
            if (fill == RemovalFill.Blur && x1 > x0 && y1 > y0)
            {
                double sigma = Math.Max(1, Math.Max(x1 - x0, y1 - y0) / 8.0);
                int r = BlurRadius(sigma);
                wx0 = Math.Max(0, x0 - r);
                wy0 = Math.Max(0, y0 - r);
                int wx1 = Math.Min(w, x1 + r), wy1 = Math.Min(h, y1 + r);
                window = GaussianBlur(img.Crop(wx0, wy0, wx1 - wx0, wy1 - wy0), sigma);
            }
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        int i = (y * w + x) * 3 + c;
                        px[i] = fill switch
                        {
                            RemovalFill.Grey => 128,
                            RemovalFill.Mean => (byte)mean[c],
                            RemovalFill.Noise => (byte)rng.Next(256),
                            _ => window!.Pixels[((y - wy0) * window.Width + (x - wx0)) * 3 + c],
                        };
                    }
        }
        return new RgbImage(w, h, px) { Source = img.Source };
    }

    /// <summary>The crop of a box (pixels whose centres lie inside it).</summary>
    public static RgbImage CropBox(RgbImage img, DetectedObject box)
    {
        var (x0, y0, x1, y1) = BoxCam.PixelRange(box, img.Width, img.Height);
        return img.Crop(x0, y0, Math.Max(1, x1 - x0), Math.Max(1, y1 - y0));
    }

    /// <summary>
    /// Pastes the crop at the centre of the image, resized (bilinear) to the same size relative to the image as in its source
    /// image, shrunk to fit when larger than the image.
    /// </summary>
    public static RgbImage PasteCentre(RgbImage img, PasteSource src)
    {
        double rw = src.RelativeWidth * img.Width, rh = src.RelativeHeight * img.Height;
        double fit = Math.Min(1, Math.Min(img.Width / rw, img.Height / rh));
        int tw = Math.Max(1, (int)Math.Round(rw * fit)), th = Math.Max(1, (int)Math.Round(rh * fit));
        var crop = Resize(src.Crop, tw, th);
        var px = (byte[])img.Pixels.Clone();
        int ox = (img.Width - tw) / 2, oy = (img.Height - th) / 2;
        for (int r = 0; r < th; r++) Array.Copy(crop.Pixels, r * tw * 3, px, ((oy + r) * img.Width + ox) * 3, tw * 3);
        return new RgbImage(img.Width, img.Height, px) { Source = img.Source };
    }

    /// <summary>Bilinear resize (half-pixel centres, edges clamped).</summary>
    public static RgbImage Resize(RgbImage img, int width, int height)
    {
        if (width == img.Width && height == img.Height) return img;
        var px = new byte[width * height * 3];
        double sx = (double)img.Width / width, sy = (double)img.Height / height;
        for (int y = 0; y < height; y++)
        {
            double fy = Math.Clamp((y + 0.5) * sy - 0.5, 0, img.Height - 1);
            int y0 = (int)fy, y1 = Math.Min(y0 + 1, img.Height - 1);
            double ty = fy - y0;
            for (int x = 0; x < width; x++)
            {
                double fx = Math.Clamp((x + 0.5) * sx - 0.5, 0, img.Width - 1);
                int x0 = (int)fx, x1 = Math.Min(x0 + 1, img.Width - 1);
                double tx = fx - x0;
                for (int c = 0; c < 3; c++)
                {
                    double top = img[y0, x0, c] * (1 - tx) + img[y0, x1, c] * tx;
                    double bottom = img[y1, x0, c] * (1 - tx) + img[y1, x1, c] * tx;
                    px[(y * width + x) * 3 + c] = Clamp(top * (1 - ty) + bottom * ty);
                }
            }
        }
        return new RgbImage(width, height, px) { Source = img.Source };
    }
}
