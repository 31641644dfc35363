using System.Runtime.InteropServices;
using TorchSharp;

namespace LayerLens.Native;

/// <summary>Starts libtorch once, and explains in one line why it cannot start.</summary>
public static class TorchRuntime
{
    static readonly object Gate = new();
    static bool _ready;

    /// <summary>Initialises libtorch on the CPU; throws a <see cref="LayerLensException"/> naming the cause.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_ready) return;
            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
                _ready = true;
            }
            catch (Exception e) when (e is NotSupportedException || e is DllNotFoundException || e is TypeInitializationException)
            {
                throw new LayerLensException($"libtorch could not be loaded: {Reason()}", ErrorKind.Internal, e);
            }
        }
    }

    /// <summary>The dynamic loader's own message for libLibTorchSharp.so, or a hint where that is not available.</summary>
    public static string Reason()
    {
        var dir = AppContext.BaseDirectory;
        var candidates = new[]
        {
            Path.Combine(dir, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", "libLibTorchSharp.so"),
            Path.Combine(dir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(dir, "libLibTorchSharp.so"),
        };
        var path = candidates.FirstOrDefault(File.Exists);
        if (path == null) return $"libLibTorchSharp.so is not in {dir} (was the TorchSharp-cpu package restored for this platform?)";
        return DescribeLoadFailure(path) ?? $"{path} loads, but libtorch failed to initialise";
    }

    /// <summary>One line saying why the dynamic loader refuses <paramref name="path"/>, or null when it loads.</summary>
    public static string? DescribeLoadFailure(string path)
    {
        try
        {
            var handle = NativeLibrary.Load(path);
            NativeLibrary.Free(handle);
            return null;
        }
        catch (DllNotFoundException e)
        {
            var msg = e.Message.Replace('\n', ' ').Trim();
            if (msg.Contains(ElfVersionPatch.TorchSharpMissingVersion, StringComparison.Ordinal))
                msg += " (the build marks this requirement weak in its output copy of libLibTorchSharp.so; rebuild the project)";
            return msg;
        }
    }
}
