using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;

namespace LayerLens.Tests.Onnx.Support;

/// <summary>
/// The ONNX exports of scripts/fixtures/export_networks.py, generated on first use into a cache folder keyed by
/// the script's hash (so editing the script regenerates them) instead of being committed.
/// </summary>
public static class NetworkModels
{
    public const string Python = "/usr/bin/python3";
    static readonly Lazy<string> CacheDir = new(Generate, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The folder holding NAME.onnx, NAME.all.onnx, NAME.input.npy and manifest.json.</summary>
    public static string Dir => CacheDir.Value;

    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "scripts", "fixtures", "export_networks.py"))) return d.FullName;
        throw new InvalidOperationException($"scripts/fixtures/export_networks.py not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Fails (never skips) with the fix when the reference Python stack is missing.</summary>
    public static void RequireTorch(string python = Python)
    {
        var (code, output) = RunProcess(python, new[] { "-c", "import torch, torchvision, onnx" }, TimeSpan.FromMinutes(2));
        if (code != 0)
            throw new InvalidOperationException(
                $"{python} cannot import torch, torchvision and onnx (exit {code}: {output.Trim().Split('\n').LastOrDefault()}); " +
                "run scripts/install-test-deps.sh (installs python3-torch python3-torchvision python3-onnx)");
    }

    static string Generate()
    {
        var script = Path.Combine(RepoRoot(), "scripts", "fixtures", "export_networks.py");
        var hash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(script)))[..16].ToLowerInvariant();
        var root = Path.Combine(Environment.GetEnvironmentVariable("TMPDIR") is { Length: > 0 } t ? t : Path.GetTempPath(), "layerlens-test-models");
        var dir = Path.Combine(root, hash);
        if (File.Exists(Path.Combine(dir, "manifest.json"))) return dir;
        RequireTorch();
        Directory.CreateDirectory(root);
        // Another test process may be exporting the same script version: wait on an exclusive lock file.
        using var lockFile = AcquireLock(Path.Combine(root, hash + ".lock"));
        if (File.Exists(Path.Combine(dir, "manifest.json"))) return dir;
        var tmp = dir + ".tmp-" + Environment.ProcessId;
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        var (code, output) = RunProcess(Python, new[] { script, tmp }, TimeSpan.FromMinutes(20));
        if (code != 0 || !File.Exists(Path.Combine(tmp, "manifest.json")))
            throw new InvalidOperationException($"{script} failed (exit {code}): {string.Join("\n", output.Split('\n').TakeLast(15))}");
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.Move(tmp, dir);
        return dir;
    }

    static FileStream AcquireLock(string path)
    {
        var deadline = DateTime.UtcNow.AddMinutes(30);
        while (true)
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (DateTime.UtcNow < deadline) { Thread.Sleep(1000); }
        }
    }

    public static (int Code, string Output) RunProcess(string exe, IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { return (-1, e.Message); }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(true);
                return (-1, $"timed out after {timeout}");
            }
            return (p.ExitCode, stdout.Result + stderr.Result);
        }
    }

    public sealed record Entry(string Name, long[] InputShape, int Opset, bool ConstantFolding, string TrainingMode, string[] Ops);

    public static Entry Describe(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "manifest.json")));
        foreach (var n in doc.RootElement.GetProperty("networks").EnumerateArray())
            if (n.GetProperty("name").GetString() == name)
                return new Entry(name,
                    n.GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
                    n.GetProperty("opset").GetInt32(),
                    n.GetProperty("constant_folding").GetBoolean(),
                    n.GetProperty("training_mode").GetString()!,
                    n.GetProperty("ops").EnumerateArray().Select(e => e.GetString()!).ToArray());
        throw new InvalidOperationException($"manifest.json in {Dir} has no network '{name}'");
    }
}
