using System.Security.Cryptography;
using LayerLens.Native;

namespace LayerLens.Tests.Native;

public class ElfVersionPatchTests
{
    const string Version = ElfVersionPatch.TorchSharpMissingVersion;

    /// <summary>The pristine library inside the NuGet cache (never patched by the build).</summary>
    static string CacheCopy()
    {
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                   ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var path = Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(path), $"TorchSharp's native library not found in the NuGet cache at {path}");
        return path;
    }

    static string OutputCopy()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(path), $"no libLibTorchSharp.so in the test output at {path}");
        return path;
    }

    static string Readelf(string path)
    {
        var (code, output) = TestPaths.RunProcess("readelf", "-V", "-W", path);
        Assert.Equal(0, code);
        return output;
    }

    [Fact]
    public void Patch_marks_only_that_requirement_weak_and_is_idempotent()
    {
        var dir = TestPaths.NewTempDir();
        var copy = Path.Combine(dir, "libLibTorchSharp.so");
        File.Copy(CacheCopy(), copy);
        var before = File.ReadAllBytes(copy);
        var needs = ElfVersionPatch.NeededVersions(before);
        Assert.Contains(needs, n => n.File == "libstdc++.so.6" && n.Version == Version && !n.Weak);

        Assert.Equal(ElfPatchResult.Patched, ElfVersionPatch.PatchFile(copy, Version));
        var after = File.ReadAllBytes(copy);
        var needsAfter = ElfVersionPatch.NeededVersions(after);
        Assert.Contains(needsAfter, n => n.Version == Version && n.Weak);
        // Every other requirement keeps its flags, and exactly one byte of the file changed.
        Assert.Equal(needs.Where(n => n.Version != Version), needsAfter.Where(n => n.Version != Version));
        Assert.Equal(before.Length, after.Length);
        Assert.Equal(1, before.Zip(after).Count(p => p.First != p.Second));

        // readelf, an independent ELF reader, agrees.
        var line = Readelf(copy).Split('\n').Single(l => l.Contains("Name: " + Version));
        Assert.Contains("Flags: WEAK", line);

        Assert.Equal(ElfPatchResult.AlreadyWeak, ElfVersionPatch.PatchFile(copy, Version));
        Assert.Equal(after, File.ReadAllBytes(copy));
        Assert.Equal(ElfPatchResult.NotReferenced, ElfVersionPatch.PatchFile(copy, "GLIBCXX_9.9.9"));
    }

    [Fact]
    public void Build_patches_its_output_copy_only_when_the_host_lacks_the_version_and_never_the_cache()
    {
        bool hostHas = ElfVersionPatch.HostLibStdCxxDefines(Version, out var lib);
        Assert.NotNull(lib);
        var output = ElfVersionPatch.NeededVersions(File.ReadAllBytes(OutputCopy())).Single(n => n.Version == Version);
        Assert.Equal(!hostHas, output.Weak);
        var cache = ElfVersionPatch.NeededVersions(File.ReadAllBytes(CacheCopy())).Single(n => n.Version == Version);
        Assert.False(cache.Weak, "the NuGet cache copy must never be patched");
    }

    [Fact]
    public void Host_version_definitions_agree_with_readelf()
    {
        Assert.True(ElfVersionPatch.HostLibStdCxxDefines("GLIBCXX_3.4", out var lib));
        var defs = ElfVersionPatch.DefinedVersions(File.ReadAllBytes(lib!));
        var text = Readelf(lib!);
        foreach (var v in new[] { "GLIBCXX_3.4", "GLIBCXX_3.4.30", "GLIBCXX_3.4.32" })
            Assert.Equal(System.Text.RegularExpressions.Regex.IsMatch(text, "Name: " + System.Text.RegularExpressions.Regex.Escape(v) + @"(\s|$)"), defs.Contains(v));
    }

    [Fact]
    public void Unpatched_library_fails_to_load_with_a_one_line_reason_naming_the_version()
    {
        bool hostHas = ElfVersionPatch.HostLibStdCxxDefines(Version, out _);
        var reason = TorchRuntime.DescribeLoadFailure(CacheCopy());
        if (hostHas)
        {
            Assert.Null(reason); // a newer libstdc++ loads the original as it is
            return;
        }
        Assert.NotNull(reason);
        Assert.DoesNotContain('\n', reason);
        Assert.Contains(Version, reason);
    }

    [Fact]
    public void Non_elf_input_is_rejected()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionPatch.NeededVersions(new byte[100]));
        Assert.Throws<InvalidDataException>(() => ElfVersionPatch.NeededVersions(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }));
    }
}
