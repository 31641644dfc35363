// This one file serves two masters: the library compiles it (LAYERLENS_LIBRARY defined) so that the
// logic is unit-tested, and build/TorchSharpNative.targets compiles it as an MSBuild inline task so
// that every build patches its own output copy of libLibTorchSharp.so.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace LayerLens.Native
{
    /// <summary>Outcome of <see cref="ElfVersionPatch.MakeVersionNeedWeak"/>.</summary>
    public enum ElfPatchResult
    {
        /// <summary>The file needs no such version (nothing to do).</summary>
        NotReferenced,
        /// <summary>The entry was already weak (an earlier run patched it).</summary>
        AlreadyWeak,
        /// <summary>The entry was strong and has been made weak.</summary>
        Patched,
    }

    /// <summary>
    /// Reads and edits the symbol-versioning sections of a 64-bit little-endian ELF shared object.
    /// LibTorchSharp is built with GCC 13, whose &lt;iostream&gt; references
    /// <c>std::ios_base_library_init@GLIBCXX_3.4.32</c> although nothing calls it; marking that one
    /// version requirement weak (VER_FLG_WEAK) lets glibc load it against an older libstdc++.
    /// </summary>
    public static class ElfVersionPatch
    {
        const uint ShtGnuVerdef = 0x6ffffffd;
        const uint ShtGnuVerneed = 0x6ffffffe;
        const ushort VerFlagWeak = 0x2;

        /// <summary>The version LibTorchSharp needs and Debian 12's libstdc++ lacks.</summary>
        public const string TorchSharpMissingVersion = "GLIBCXX_3.4.32";

        /// <summary>Version names that <paramref name="elf"/> defines (its .gnu.version_d entries).</summary>
        public static IReadOnlyList<string> DefinedVersions(byte[] elf)
        {
            var names = new List<string>();
            foreach (var sec in Sections(elf))
            {
                if (sec.Type != ShtGnuVerdef) continue;
                var strtab = SectionAt(elf, sec.Link);
                long off = sec.Offset;
                for (uint i = 0; i < sec.Info; i++)
                {
                    // Elf64_Verdef: vd_version(2) vd_flags(2) vd_ndx(2) vd_cnt(2) vd_hash(4) vd_aux(4) vd_next(4)
                    uint aux = U32(elf, off + 12);
                    uint next = U32(elf, off + 16);
                    uint nameOff = U32(elf, off + aux); // Elf64_Verdaux: vda_name(4) vda_next(4)
                    names.Add(CString(elf, strtab.Offset + nameOff));
                    if (next == 0) break;
                    off += next;
                }
            }
            return names;
        }

        /// <summary>(library file, version name, weak?) for every version requirement (.gnu.version_r).</summary>
        public static IReadOnlyList<(string File, string Version, bool Weak)> NeededVersions(byte[] elf)
        {
            var list = new List<(string, string, bool)>();
            foreach (var (file, version, flagsOffset) in Vernaux(elf))
                list.Add((file, version, (U16(elf, flagsOffset) & VerFlagWeak) != 0));
            return list;
        }

        /// <summary>Sets VER_FLG_WEAK on the requirement of <paramref name="version"/> (in memory).</summary>
        public static ElfPatchResult MakeVersionNeedWeak(byte[] elf, string version)
        {
            var result = ElfPatchResult.NotReferenced;
            foreach (var (_, name, flagsOffset) in Vernaux(elf))
            {
                if (name != version) continue;
                ushort flags = U16(elf, flagsOffset);
                if ((flags & VerFlagWeak) != 0)
                {
                    if (result == ElfPatchResult.NotReferenced) result = ElfPatchResult.AlreadyWeak;
                    continue;
                }
                flags |= VerFlagWeak;
                elf[flagsOffset] = (byte)(flags & 0xff);
                elf[flagsOffset + 1] = (byte)(flags >> 8);
                result = ElfPatchResult.Patched;
            }
            return result;
        }

        /// <summary>
        /// Patches <paramref name="path"/> in place by writing a patched copy beside it and renaming it over
        /// the original, so a hard link into a package cache is never written through.
        /// </summary>
        public static ElfPatchResult PatchFile(string path, string version)
        {
            var bytes = File.ReadAllBytes(path);
            var result = MakeVersionNeedWeak(bytes, version);
            if (result != ElfPatchResult.Patched) return result;
            var tmp = path + ".layerlens-tmp";
            File.Copy(path, tmp, overwrite: true); // keeps the file mode
            File.WriteAllBytes(tmp, bytes);
            File.Replace(tmp, path, null);        // a rename: the old inode (maybe a cache hard link) is untouched
            return result;
        }

        /// <summary>Whether the libstdc++ that the dynamic loader would pick defines <paramref name="version"/>.</summary>
        public static bool HostLibStdCxxDefines(string version, out string? libPath)
        {
            libPath = FindHostLibStdCxx();
            if (libPath == null) return false;
            try { return new List<string>(DefinedVersions(File.ReadAllBytes(libPath))).Contains(version); }
            catch (InvalidDataException) { return false; }
        }

        /// <summary>Path of the system libstdc++.so.6, or null when none is found.</summary>
        public static string? FindHostLibStdCxx()
        {
            string[] dirs =
            {
                "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                "/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib",
            };
            foreach (var d in dirs)
            {
                var p = Path.Combine(d, "libstdc++.so.6");
                if (File.Exists(p)) return Path.GetFullPath(p);
            }
            return null;
        }

        readonly struct Section
        {
            public Section(uint type, long offset, long size, uint link, uint info)
            { Type = type; Offset = offset; Size = size; Link = link; Info = info; }
            public uint Type { get; }
            public long Offset { get; }
            public long Size { get; }
            public uint Link { get; }
            public uint Info { get; }
        }

        static IEnumerable<(string File, string Version, long FlagsOffset)> Vernaux(byte[] elf)
        {
            foreach (var sec in Sections(elf))
            {
                if (sec.Type != ShtGnuVerneed) continue;
                var strtab = SectionAt(elf, sec.Link);
                long off = sec.Offset;
                for (uint i = 0; i < sec.Info; i++)
                {
                    // Elf64_Verneed: vn_version(2) vn_cnt(2) vn_file(4) vn_aux(4) vn_next(4)
                    ushort cnt = U16(elf, off + 2);
                    string file = CString(elf, strtab.Offset + U32(elf, off + 4));
                    long aux = off + U32(elf, off + 8);
                    for (int j = 0; j < cnt; j++)
                    {
                        // Elf64_Vernaux: vna_hash(4) vna_flags(2) vna_other(2) vna_name(4) vna_next(4)
                        string name = CString(elf, strtab.Offset + U32(elf, aux + 8));
                        yield return (file, name, aux + 4);
                        uint nextAux = U32(elf, aux + 12);
                        if (nextAux == 0) break;
                        aux += nextAux;
                    }
                    uint next = U32(elf, off + 12);
                    if (next == 0) break;
                    off += next;
                }
            }
        }

        static List<Section> Sections(byte[] elf)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException("only 64-bit little-endian ELF files are supported");
            long shoff = (long)U64(elf, 0x28);
            ushort shentsize = U16(elf, 0x3A);
            ushort shnum = U16(elf, 0x3C);
            if (shoff <= 0 || shentsize < 64 || shoff + (long)shnum * shentsize > elf.Length)
                throw new InvalidDataException("ELF section header table is missing or truncated");
            var list = new List<Section>(shnum);
            for (int i = 0; i < shnum; i++)
            {
                long h = shoff + (long)i * shentsize;
                list.Add(new Section(U32(elf, h + 4), (long)U64(elf, h + 24), (long)U64(elf, h + 32),
                    U32(elf, h + 40), U32(elf, h + 44)));
            }
            return list;
        }

        static Section SectionAt(byte[] elf, uint index)
        {
            var all = Sections(elf);
            if (index >= all.Count) throw new InvalidDataException("ELF string table index out of range");
            return all[(int)index];
        }

        static void Check(byte[] b, long off, int n)
        {
            if (off < 0 || off + n > b.Length) throw new InvalidDataException("ELF offset out of range");
        }

        static ushort U16(byte[] b, long off) { Check(b, off, 2); return (ushort)(b[off] | b[off + 1] << 8); }
        static uint U32(byte[] b, long off) { Check(b, off, 4); return BitConverter.ToUInt32(b, (int)off); }
        static ulong U64(byte[] b, long off) { Check(b, off, 8); return BitConverter.ToUInt64(b, (int)off); }

        static string CString(byte[] b, long off)
        {
            Check(b, off, 1);
            long end = off;
            while (end < b.Length && b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, (int)off, (int)(end - off));
        }
    }

#if !LAYERLENS_LIBRARY
    /// <summary>MSBuild task: patch every given libLibTorchSharp.so unless the host's libstdc++ has the version.</summary>
    public class PatchTorchSharpNative : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        public override bool Execute()
        {
            if (!System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux)) return true;
            if (ElfVersionPatch.HostLibStdCxxDefines(ElfVersionPatch.TorchSharpMissingVersion, out var lib))
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low,
                    "LayerLens: {0} defines {1}; libLibTorchSharp.so left as it is", lib ?? "libstdc++", ElfVersionPatch.TorchSharpMissingVersion);
                return true;
            }
            foreach (var item in Files)
            {
                var path = item.GetMetadata("FullPath");
                try
                {
                    var r = ElfVersionPatch.PatchFile(path, ElfVersionPatch.TorchSharpMissingVersion);
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal,
                        "LayerLens: {0}: {1} ({2} weak)", path, r, ElfVersionPatch.TorchSharpMissingVersion);
                }
                catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
                {
                    Log.LogError("LayerLens: could not patch {0}: {1}", path, e.Message);
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
