using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LayerLens.Quality.Metrics;

/// <summary>
/// Fused SSIM kernel on managed planes. Per plane, row by row: a horizontal "valid" Gaussian filter of the four
/// maps x, y, x² + y² and xy (products made on the fly from the input row) into a ring of window-size rows per
/// map, then the vertical filter of one output row, the SSIM and contrast-structure formula and the row's sums.
/// The ring covers a column strip narrow enough to stay in L1, so nothing full-size is written; libtorch's
/// filter made and re-read five full-size maps twice and was memory-bound. x² and y² enter SSIM only as
/// σx² + σy², so one summed map replaces the two. Sums are accumulated in double per output row and the rows
/// added in order at the end, so the result does not depend on how rows are split between threads.
/// </summary>
internal static class SsimKernel
{
    const int Maps = 4; // x, y, x² + y², xy (x² and y² only ever appear summed: σx² + σy²)

    /// <summary>
    /// Mean SSIM and mean contrast-structure term of each of <paramref name="planes"/> planes of
    /// <paramref name="height"/>×<paramref name="width"/> over the window-cropped interior. <paramref name="x"/> and
    /// <paramref name="y"/> hold the planes one after another and at least <see cref="Padding{T}"/> finite values
    /// after them (vector loads at the end of the last row read into them; those lanes are never summed).
    /// </summary>
    public static (double[] Ssim, double[] ContrastStructure) Means<T>(
        T[] x, T[] y, int planes, int height, int width, double[] weights, double c1, double c2, int maxThreads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = weights.Length;
        if (k % 2 == 0 || height < k || width < k || planes < 0)
            throw new ArgumentException($"SSIM kernel: {planes} planes of {height}×{width} with a {k}-tap window");
        long needed = (long)planes * height * width + Padding<T>();
        if (x.Length < needed || y.Length < needed)
            throw new ArgumentException($"SSIM kernel: inputs hold {Math.Min(x.Length, y.Length)} values, need {needed}");
        var g = new Geometry(height, width, k, Vector<T>.Count, Unsafe.SizeOf<T>());
        var rowSsim = new double[(long)planes * g.OutH];
        var rowCs = new double[(long)planes * g.OutH];
        var wv = new Vector<T>[k];
        for (int t = 0; t < k; t++) wv[t] = new Vector<T>(T.CreateTruncating(weights[t]));
        var c1v = new Vector<T>(T.CreateTruncating(c1));
        var c2v = new Vector<T>(T.CreateTruncating(c2));

        int threads = Math.Max(1, maxThreads);
        int bands = BandsPerPlane(planes, g.OutH, k, threads);
        int units = planes * bands;
        void Unit(int u, Scratch<T> s)
        {
            int p = u / bands, b = u % bands;
            int r0 = (int)((long)g.OutH * b / bands), r1 = (int)((long)g.OutH * (b + 1) / bands);
            Band(x, y, p, r0, r1, g, wv, c1v, c2v, s, rowSsim, rowCs);
        }
        if (threads == 1 || units <= 1)
        {
            var s = new Scratch<T>(g);
            for (int u = 0; u < units; u++) Unit(u, s);
        }
        else
        {
            Parallel.For(0, units, new ParallelOptions { MaxDegreeOfParallelism = threads },
                () => new Scratch<T>(g), (u, _, s) => { Unit(u, s); return s; }, _ => { });
        }

        var ssim = new double[planes];
        var cs = new double[planes];
        double count = (double)g.OutH * g.OutW;
        for (int p = 0; p < planes; p++)
        {
            double a = 0, c = 0;
            for (int r = 0; r < g.OutH; r++) { a += rowSsim[(long)p * g.OutH + r]; c += rowCs[(long)p * g.OutH + r]; }
            ssim[p] = a / count;
            cs[p] = c / count;
        }
        return (ssim, cs);
    }

    /// <summary>
    /// Copies <paramref name="source"/> (bytes, float or double) into <paramref name="destination"/> of the same
    /// length, converting to <typeparamref name="T"/>, and tells whether every converted value is finite
    /// (bytes always are).
    /// </summary>
    public static bool Load<TFrom, T>(ReadOnlySpan<TFrom> source, Span<T> destination)
        where TFrom : unmanaged, INumberBase<TFrom> where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (source.Length != destination.Length)
            throw new ArgumentException($"SSIM kernel: copying {source.Length} values into {destination.Length}");
        int i = 0, n = source.Length;
        ref TFrom src = ref MemoryMarshal.GetReference(source);
        ref T dst = ref MemoryMarshal.GetReference(destination);
        var check = Vector<T>.Zero; // accumulates v − v: 0 while every v is finite, NaN from the first that is not
        if (typeof(TFrom) == typeof(byte))
        {
            ref byte b = ref Unsafe.As<TFrom, byte>(ref src);
            for (; i <= n - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Vector.Widen(Vector.LoadUnsafe(ref b, (nuint)i), out var lo, out var hi);
                StoreWidened(lo, ref dst, i);
                StoreWidened(hi, ref dst, i + Vector<ushort>.Count);
            }
        }
        else if (typeof(TFrom) == typeof(T))
        {
            ref T s = ref Unsafe.As<TFrom, T>(ref src);
            for (; i <= n - Vector<T>.Count; i += Vector<T>.Count)
            {
                var v = Vector.LoadUnsafe(ref s, (nuint)i);
                Vector.StoreUnsafe(v, ref dst, (nuint)i);
                check += v - v;
            }
        }
        else if (typeof(TFrom) == typeof(float) && typeof(T) == typeof(double))
        {
            ref float s = ref Unsafe.As<TFrom, float>(ref src);
            ref double d = ref Unsafe.As<T, double>(ref dst);
            var checkD = Vector<double>.Zero;
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(Vector.LoadUnsafe(ref s, (nuint)i), out var lo, out var hi);
                Vector.StoreUnsafe(lo, ref d, (nuint)i);
                Vector.StoreUnsafe(hi, ref d, (nuint)(i + Vector<double>.Count));
                checkD += lo - lo + (hi - hi);
            }
            check = checkD.As<double, T>();
        }
        else if (typeof(TFrom) == typeof(double) && typeof(T) == typeof(float))
        {
            ref double s = ref Unsafe.As<TFrom, double>(ref src);
            ref float d = ref Unsafe.As<T, float>(ref dst);
            var checkF = Vector<float>.Zero;
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = Vector.Narrow(Vector.LoadUnsafe(ref s, (nuint)i), Vector.LoadUnsafe(ref s, (nuint)(i + Vector<double>.Count)));
                Vector.StoreUnsafe(v, ref d, (nuint)i);
                checkF += v - v;
            }
            check = checkF.As<float, T>();
        }
        bool finite = Vector.EqualsAll(check, Vector<T>.Zero);
        for (; i < n; i++)
        {
            var v = T.CreateTruncating(Unsafe.Add(ref src, i));
            Unsafe.Add(ref dst, i) = v;
            finite &= T.IsFinite(v);
        }
        return finite;
    }

    /// <summary>Sixteen-bit lanes (widened bytes) as <typeparamref name="T"/> at <paramref name="i"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreWidened<T>(Vector<ushort> v, ref T dst, int i) where T : unmanaged
    {
        Vector.Widen(v, out var a, out var b);
        var fa = Vector.ConvertToSingle(a.As<uint, int>());
        var fb = Vector.ConvertToSingle(b.As<uint, int>());
        if (typeof(T) == typeof(float))
        {
            ref float d = ref Unsafe.As<T, float>(ref dst);
            Vector.StoreUnsafe(fa, ref d, (nuint)i);
            Vector.StoreUnsafe(fb, ref d, (nuint)(i + Vector<float>.Count));
        }
        else
        {
            ref double d = ref Unsafe.As<T, double>(ref dst);
            Vector.Widen(fa, out var a0, out var a1);
            Vector.Widen(fb, out var b0, out var b1);
            Vector.StoreUnsafe(a0, ref d, (nuint)i);
            Vector.StoreUnsafe(a1, ref d, (nuint)(i + Vector<double>.Count));
            Vector.StoreUnsafe(b0, ref d, (nuint)(i + 2 * Vector<double>.Count));
            Vector.StoreUnsafe(b1, ref d, (nuint)(i + 3 * Vector<double>.Count));
        }
    }

    /// <summary>Values the inputs must hold after the last plane.</summary>
    public static int Padding<T>() where T : unmanaged => 2 * Vector<T>.Count;

    /// <summary>
    /// Row bands per plane: one when the planes alone keep every thread busy; otherwise enough bands that the
    /// units divide evenly between threads, each band at least a few windows tall (every band filters
    /// window − 1 extra rows horizontally).
    /// </summary>
    static int BandsPerPlane(int planes, int outH, int k, int threads)
    {
        if (threads == 1 || planes == 0 || planes >= 4 * threads || planes % threads == 0) return 1;
        int bands = threads / (int)BigInteger.GreatestCommonDivisor(planes, threads);
        while (planes * bands < 2 * threads) bands *= 2;
        return Math.Max(1, Math.Min(bands, outH / (4 * k)));
    }

    /// <summary>
    /// Plane sizes, the padded output row (a whole number of vectors) and the column strips it is cut into:
    /// strips narrow enough that the ring of filtered rows (4 maps × window rows × strip) stays in L1. Ring rows
    /// whose length is a multiple of 256 bytes get one vector of slack, since the vertical filter reads ~40
    /// rows at once and power-of-two strides make them collide in the cache (4K aliasing: 2× slower).
    /// </summary>
    sealed class Geometry
    {
        const int RingBytes = 24 * 1024;
        public readonly int H, W, K, Lanes, OutH, OutW, PaddedW, StripW, SlotW, ProductW;

        public Geometry(int height, int width, int k, int lanes, int elementSize)
        {
            H = height; W = width; K = k; Lanes = lanes;
            OutH = height - k + 1;
            OutW = width - k + 1;
            PaddedW = (OutW + lanes - 1) / lanes * lanes;
            StripW = Math.Clamp(RingBytes / (Maps * k * elementSize) / lanes * lanes, lanes, PaddedW);
            SlotW = StripW * elementSize % 256 == 0 ? StripW + lanes : StripW;
            ProductW = (StripW + k - 1 + lanes - 1) / lanes * lanes;
        }
    }

    /// <summary>Per-thread buffers: the ring of filtered rows, the product rows, the slot offsets of one output row.</summary>
    sealed class Scratch<T>(Geometry g) where T : unmanaged
    {
        public readonly T[] Ring = new T[Maps * g.K * g.SlotW];
        public readonly T[] Products = new T[2 * g.ProductW];
        public readonly int[] Slots = new int[g.K];
    }

    /// <summary>Output rows [<paramref name="r0"/>, <paramref name="r1"/>) of one plane, strip by strip.</summary>
    static void Band<T>(T[] x, T[] y, int plane, int r0, int r1, Geometry g, Vector<T>[] wv, Vector<T> c1, Vector<T> c2,
        Scratch<T> s, double[] rowSsim, double[] rowCs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long planeOffset = (long)plane * g.H * g.W, rowOffset = (long)plane * g.OutH;
        Array.Clear(rowSsim, (int)(rowOffset + r0), r1 - r0);
        Array.Clear(rowCs, (int)(rowOffset + r0), r1 - r0);
        for (int j0 = 0; j0 < g.PaddedW; j0 += g.StripW)
        {
            int width = Math.Min(g.StripW, g.PaddedW - j0), valid = Math.Min(width, g.OutW - j0);
            for (int i = r0; i < r1 + g.K - 1; i++)
            {
                Horizontal(x, y, planeOffset + (long)i * g.W + j0, width, i % g.K, g, wv, s);
                int r = i - (g.K - 1);
                if (r < r0) continue;
                for (int t = 0; t < g.K; t++) s.Slots[t] = (r + t) % g.K * g.SlotW;
                var (a, c) = VerticalRow(width, valid, g, wv, c1, c2, s);
                rowSsim[rowOffset + r] += a;
                rowCs[rowOffset + r] += c;
            }
        }
    }

    /// <summary>
    /// Filters <paramref name="width"/> columns of the input row at <paramref name="offset"/> horizontally into
    /// ring slot <paramref name="slot"/> of every map.
    /// </summary>
    static void Horizontal<T>(T[] x, T[] y, long offset, int width, int slot, Geometry g, Vector<T>[] wv, Scratch<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T xr = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(x), (nint)offset);
        ref T yr = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(y), (nint)offset);
        int k = g.K, c = k / 2;
        ref T sq = ref MemoryMarshal.GetArrayDataReference(s.Products);
        ref T xy = ref Unsafe.Add(ref sq, g.ProductW);
        // Products over whole vectors; lanes past the row's end read the next row (or the padding) and only
        // feed output lanes that are never summed.
        for (nuint j = 0; j < (nuint)(width + k - 1); j += (nuint)g.Lanes)
        {
            var a = Vector.LoadUnsafe(ref xr, j);
            var b = Vector.LoadUnsafe(ref yr, j);
            Vector.StoreUnsafe(Fma(a, a, b * b), ref sq, j);
            Vector.StoreUnsafe(a * b, ref xy, j);
        }
        nuint mapStride = (nuint)(k * g.SlotW);
        ref T ring = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s.Ring), slot * g.SlotW);
        ref Vector<T> w = ref MemoryMarshal.GetArrayDataReference(wv);
        for (nuint j = 0; j < (nuint)width; j += (nuint)g.Lanes)
        {
            var wc = Unsafe.Add(ref w, c);
            nuint jc = j + (nuint)c;
            var sx = wc * Vector.LoadUnsafe(ref xr, jc);
            var sy = wc * Vector.LoadUnsafe(ref yr, jc);
            var ssq = wc * Vector.LoadUnsafe(ref sq, jc);
            var sxy = wc * Vector.LoadUnsafe(ref xy, jc);
            for (int t = 0; t < c; t++)
            {
                var wt = Unsafe.Add(ref w, t);
                nuint lo = j + (nuint)t, hi = j + (nuint)(k - 1 - t);
                sx = Fma(wt, Vector.LoadUnsafe(ref xr, lo) + Vector.LoadUnsafe(ref xr, hi), sx);
                sy = Fma(wt, Vector.LoadUnsafe(ref yr, lo) + Vector.LoadUnsafe(ref yr, hi), sy);
                ssq = Fma(wt, Vector.LoadUnsafe(ref sq, lo) + Vector.LoadUnsafe(ref sq, hi), ssq);
                sxy = Fma(wt, Vector.LoadUnsafe(ref xy, lo) + Vector.LoadUnsafe(ref xy, hi), sxy);
            }
            Vector.StoreUnsafe(sx, ref ring, j);
            Vector.StoreUnsafe(sy, ref ring, j + mapStride);
            Vector.StoreUnsafe(ssq, ref ring, j + 2 * mapStride);
            Vector.StoreUnsafe(sxy, ref ring, j + 3 * mapStride);
        }
    }

    /// <summary>
    /// Vertical filter of the ring for one output row of a strip, the SSIM formula and the sums of SSIM and cs
    /// over the strip's first <paramref name="valid"/> columns.
    /// </summary>
    static (double Ssim, double Cs) VerticalRow<T>(int width, int valid, Geometry g, Vector<T>[] wv, Vector<T> c1, Vector<T> c2, Scratch<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = g.K, c = k / 2;
        nuint mapStride = (nuint)(k * g.SlotW);
        ref T ring = ref MemoryMarshal.GetArrayDataReference(s.Ring);
        ref int slots = ref MemoryMarshal.GetArrayDataReference(s.Slots);
        ref Vector<T> w = ref MemoryMarshal.GetArrayDataReference(wv);
        var two = new Vector<T>(T.One + T.One);
        var accSsim = Vector<double>.Zero;
        var accCs = Vector<double>.Zero;
        int full = valid / g.Lanes * g.Lanes;
        double tailSsim = 0, tailCs = 0;
        for (nuint j = 0; j < (nuint)width; j += (nuint)g.Lanes)
        {
            var wc = Unsafe.Add(ref w, c);
            ref T center = ref Unsafe.Add(ref ring, (nuint)Unsafe.Add(ref slots, c) + j);
            var ux = wc * Vector.LoadUnsafe(ref center);
            var uy = wc * Vector.LoadUnsafe(ref center, mapStride);
            var esq = wc * Vector.LoadUnsafe(ref center, 2 * mapStride);
            var exy = wc * Vector.LoadUnsafe(ref center, 3 * mapStride);
            for (int t = 0; t < c; t++)
            {
                var wt = Unsafe.Add(ref w, t);
                ref T lo = ref Unsafe.Add(ref ring, (nuint)Unsafe.Add(ref slots, t) + j);
                ref T hi = ref Unsafe.Add(ref ring, (nuint)Unsafe.Add(ref slots, k - 1 - t) + j);
                ux = Fma(wt, Vector.LoadUnsafe(ref lo) + Vector.LoadUnsafe(ref hi), ux);
                uy = Fma(wt, Vector.LoadUnsafe(ref lo, mapStride) + Vector.LoadUnsafe(ref hi, mapStride), uy);
                esq = Fma(wt, Vector.LoadUnsafe(ref lo, 2 * mapStride) + Vector.LoadUnsafe(ref hi, 2 * mapStride), esq);
                exy = Fma(wt, Vector.LoadUnsafe(ref lo, 3 * mapStride) + Vector.LoadUnsafe(ref hi, 3 * mapStride), exy);
            }
            var uxux = ux * ux;
            var uyuy = uy * uy;
            var uxuy = ux * uy;
            var cs = (two * (exy - uxuy) + c2) / (esq - uxux - uyuy + c2);
            var ssim = (two * uxuy + c1) / (uxux + uyuy + c1) * cs;
            if ((int)j < full)
            {
                accSsim += Widened(ssim);
                accCs += Widened(cs);
            }
            else
            {
                for (int l = 0; l < valid - full; l++)
                {
                    tailSsim += double.CreateTruncating(ssim[l]);
                    tailCs += double.CreateTruncating(cs[l]);
                }
            }
        }
        return (Vector.Sum(accSsim) + tailSsim, Vector.Sum(accCs) + tailCs);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector<T> Fma<T>(Vector<T> a, Vector<T> b, Vector<T> addend) where T : unmanaged
    {
        if (typeof(T) == typeof(double))
            return Vector.FusedMultiplyAdd(a.As<T, double>(), b.As<T, double>(), addend.As<T, double>()).As<double, T>();
        if (typeof(T) == typeof(float))
            return Vector.FusedMultiplyAdd(a.As<T, float>(), b.As<T, float>(), addend.As<T, float>()).As<float, T>();
        return a * b + addend;
    }

    /// <summary>The lanes of <paramref name="v"/> as doubles, pairwise added when <typeparamref name="T"/> is float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector<double> Widened<T>(Vector<T> v) where T : unmanaged
    {
        if (typeof(T) == typeof(double)) return v.As<T, double>();
        if (typeof(T) == typeof(float))
        {
            Vector.Widen(v.As<T, float>(), out var lo, out var hi);
            return lo + hi;
        }
        throw new NotSupportedException($"SSIM kernel: element type {typeof(T).Name}");
    }
}
