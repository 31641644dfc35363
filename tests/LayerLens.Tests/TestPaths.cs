using System.Diagnostics;
using LayerLens.Cli;

namespace LayerLens.Tests;

/// <summary>Where tests find the repository, fixtures and reference tools.</summary>
public static class TestPaths
{
    public static string Fixtures => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    /// <summary>Runs the CLI in this process; returns its exit code and what it wrote to stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Starts the built `layerlens` CLI as a real process (output drained so it never blocks).</summary>
    public static Process StartCli(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "LayerLens.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Runs the CLI and SIGKILLs it once <paramref name="ready"/> holds; false if it finished first.</summary>
    public static bool RunCliAndKill(string[] args, Func<bool> ready)
    {
        using var p = StartCli(args);
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (!p.HasExited && !ready() && DateTime.UtcNow < deadline) Thread.Sleep(5);
        if (p.HasExited) return false;
        p.Kill(); // SIGKILL: no handlers, no cleanup
        p.WaitForExit();
        return true;
    }

    /// <summary>The repository root (the folder with LayerLens.sln), found upwards from the test binaries.</summary>
    public static string RepoRoot
    {
        get
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d != null && !File.Exists(Path.Combine(d.FullName, "LayerLens.sln"))) d = d.Parent;
            return d?.FullName ?? throw new InvalidOperationException("LayerLens.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The bundled demo model (copied next to the CLI and hence the tests).</summary>
    public static string DemoModel => Path.Combine(AppContext.BaseDirectory, "Assets", "tiny-resnet.onnx");

    /// <summary>A fresh empty folder under the system temp folder.</summary>
    public static string NewTempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "layerlens-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>Debian's Python, which has numpy, scipy, scikit-learn, scikit-image and torch (scripts/install-test-deps.sh).</summary>
    public const string Python = "/usr/bin/python3";

    /// <summary>Runs a program and returns its exit code and combined output; fails the test if it cannot start.</summary>
    public static (int Code, string Output) RunProcess(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Runs a Python snippet with Debian's python3 and returns its stdout; fails the test on error.</summary>
    public static string RunPython(string code, params string[] args)
    {
        Assert.True(File.Exists(Python), $"{Python} is missing: run scripts/install-test-deps.sh");
        var (exit, output) = RunProcess(Python, new[] { "-c", code }.Concat(args).ToArray());
        Assert.True(exit == 0, $"python failed ({exit}): {output}");
        return output;
    }
}
