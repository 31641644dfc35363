using System.Net;
using System.Net.Sockets;
using LayerLens.Classification;
using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Preprocessing;
using LayerLens.Tests.TfJs;
using LayerLens.Zoo;

namespace LayerLens.Tests.Zoo;

/// <summary>User zoo files in YAML and JSON (errors with file and line) and http(s) sources served by a local HttpListener.</summary>
public class ZooFileTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "layerlens-zoofile-" + Guid.NewGuid().ToString("N"));

    public ZooFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    static readonly string[] Ten = { "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine" };

    [Fact]
    public void Yaml_zoo_file_registers_an_onnx_model_with_preprocessing_and_inline_labels_that_classifies()
    {
        File.Copy(TestPaths.DemoModel, Path.Combine(_dir, "mine.onnx"));
        var sha = ModelZoo.Sha256Of(Path.Combine(_dir, "mine.onnx"));
        var file = Path.Combine(_dir, "zoo.yaml");
        File.WriteAllText(file, $"""
            # my own models
            models:
              - name: mine
                task: classification
                description: a tiny test network
                source: mine.onnx          # relative to this file
                sha256: {sha}
                preprocessing:
                  preset: imagenet
                  resize: 72
                  crop: 64x64
                labels: [{string.Join(", ", Ten)}]
              - name: remote
                source:
                  url: https://example.invalid/models/net.onnx
                sha256: {new string('a', 64)}
                preprocessing: inception
            """);
        var zoo = ModelZoo.Default(file);
        var mine = zoo.Get("mine");
        Assert.Equal(file, mine.Origin);
        Assert.Equal("file", mine.Source.Kind);
        Assert.Equal(Path.Combine(_dir, "mine.onnx"), zoo.Resolve("mine"));
        Assert.Equal(((int, int)?)(64, 64), mine.Preprocessing.CenterCrop);
        Assert.Equal(72, mine.Preprocessing.ResizeShorter);
        Assert.Equal(P("imagenet").Mean, mine.Preprocessing.Mean);
        Assert.Equal(new[] { 64, 64 }, mine.InputSize);
        Assert.Equal(Ten, mine.LoadLabels()!.Names);
        var remote = zoo.Get("remote");
        Assert.Equal("url", remote.Source.Kind);
        Assert.Equal("net.onnx", remote.Source.Path);
        Assert.Equal(P("inception"), remote.Preprocessing);
        Assert.Contains(zoo.Entries, e => e.Name == "nanodet");

        // The registered model classifies a photo with the entry's preprocessing and labels.
        using var graph = ModelLoader.Load(zoo.Resolve("mine"));
        var classifier = ImageClassifier.ForZoo(graph, mine);
        var top = classifier.Classify(ImageDecoder.Decode(TfJsReference.FixturePath("Photos", "coffee.png")), 3);
        Assert.Equal(3, top.Count);
        Assert.All(top, t => Assert.Contains(t.Label, Ten));
        Assert.Equal(new long[] { 1, 3, 64, 64 }, classifier.Prepare(ImageDecoder.Decode(TfJsReference.FixturePath("Photos", "coffee.png"))).Input.shape);
    }

    static PreprocessingSpec P(string preset) => PreprocessingSpec.FromPreset(preset);

    [Fact]
    public void Json_and_yaml_zoo_files_give_the_same_entries()
    {
        var yaml = Path.Combine(_dir, "z.yml");
        var json = Path.Combine(_dir, "z.json");
        File.WriteAllText(yaml, """
            models:
              - name: det
                task: detection
                source: {kind: npm, package: "some-pkg@1.0.0", path: models/det.json}
                preprocessing: {preset: yolo, resize: 320x320}
                head: yolov8
                labels: coco80
            """);
        File.WriteAllText(json, """
            {
              // comments and trailing commas are allowed
              "models": [
                {"name": "det", "task": "detection",
                 "source": {"kind": "npm", "package": "some-pkg@1.0.0", "path": "models/det.json"},
                 "preprocessing": {"preset": "yolo", "resize": "320x320"},
                 "head": "yolov8", "labels": "coco80",},
              ],
            }
            """);
        var a = ModelZoo.ReadFile(yaml).Single();
        var b = ModelZoo.ReadFile(json).Single();
        Assert.Equal(a.Preprocessing, b.Preprocessing);
        Assert.Equal(ResizeFit.Letterbox, a.Preprocessing.Fit);
        Assert.Equal(((int, int)?)(320, 320), a.Preprocessing.ResizeExact);
        Assert.Equal(114f, a.Preprocessing.PadValue);
        Assert.Equal(a.Source, b.Source);
        Assert.Equal("npm some-pkg@1.0.0 models/det.json", a.Source.ToString());
        Assert.Equal((a.Head, a.Labels, a.Task), (b.Head, b.Labels, b.Task));
    }

    [Theory]
    // YAML: an unknown preprocessing value on line 6, an unknown key on line 5, a syntax error on line 3, a missing sha for a URL on line 2.
    [InlineData("z.yaml", "models:\n  - name: m\n    source: m.onnx\n    preprocessing:\n      preset: raw\n      layout: sideways\n", 6, "layout 'sideways'")]
    [InlineData("z.yaml", "models:\n  - name: m\n    source: m.onnx\n    preprocessing: raw\n    lables: [a]\n", 5, "unknown key 'lables'")]
    [InlineData("z.yaml", "models:\n  - name: m\n    source: a: b\n    preprocessing: raw\n", 3, "not valid YAML")]
    [InlineData("z.yaml", "models:\n  - name: m\n    source: https://example.invalid/m.onnx\n    preprocessing: raw\n", 2, "needs \"sha256\"")]
    [InlineData("z.yaml", "models:\n  - name: m\n    source: m.onnx\n    preprocessing: nope\n", 4, "unknown preprocessing preset 'nope'")]
    // JSON: an unknown preset on line 4, a bad checksum on line 5, a syntax error on line 3, a duplicate name on line 4.
    [InlineData("z.json", "{\"models\": [\n {\"name\": \"m\",\n  \"source\": \"m.onnx\",\n  \"preprocessing\": {\"preset\": \"nope\"}}]}", 4, "unknown preprocessing preset 'nope'")]
    [InlineData("z.json", "{\"models\": [\n {\"name\": \"m\",\n  \"source\": \"m.onnx\", \"preprocessing\": \"raw\",\n\n  \"sha256\": \"xyz\"}]}", 5, "64 hexadecimal digits")]
    [InlineData("z.json", "{\"models\": [\n {\"name\": \"m\",\n  \"source\" \"m.onnx\"}]}", 3, "not valid JSON")]
    [InlineData("z.json", "{\"models\": [\n {\"name\": \"m\", \"source\": \"a.onnx\", \"preprocessing\": \"raw\"},\n\n {\"name\": \"m\", \"source\": \"b.onnx\", \"preprocessing\": \"raw\"}]}", 4, "already defined at line 2")]
    public void Errors_name_the_file_and_line(string fileName, string text, int line, string expected)
    {
        var file = Path.Combine(_dir, fileName);
        File.WriteAllText(file, text);
        var e = Assert.Throws<LayerLensException>(() => ModelZoo.ReadFile(file));
        Assert.Equal(ErrorKind.BadInput, e.Kind);
        Assert.StartsWith($"{file}:{line}:", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public async Task Url_source_is_downloaded_once_checked_and_afterwards_read_from_the_cache_only()
    {
        var bytes = File.ReadAllBytes(TestPaths.DemoModel);
        var sha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant();
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        int requests = 0;
        var server = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = await listener.GetContextAsync(); }
                catch (Exception) { return; }
                Interlocked.Increment(ref requests);
                if (ctx.Request.Url!.AbsolutePath == "/models/tiny.onnx")
                {
                    ctx.Response.ContentLength64 = bytes.Length;
                    ctx.Response.OutputStream.Write(bytes);
                }
                else ctx.Response.StatusCode = 404;
                ctx.Response.Close();
            }
        });
        // A file name unique to this run, so the shared cache never already holds it.
        var name = $"tiny-{Guid.NewGuid():N}.onnx";
        var wrongName = $"wrong-{Guid.NewGuid():N}.onnx";
        var wrongSha = new string('0', 64);
        var file = Path.Combine(_dir, "zoo.yaml");
        File.WriteAllText(file, $"""
            models:
              - name: remote
                source: {"{"}url: "http://127.0.0.1:{port}/models/tiny.onnx", path: {name}{"}"}
                sha256: {sha}
                preprocessing: imagenet
                labels: [{string.Join(", ", Ten)}]
              - name: tampered
                source: {"{"}url: "http://127.0.0.1:{port}/models/tiny.onnx", path: {wrongName}{"}"}
                sha256: {wrongSha}
                preprocessing: imagenet
              - name: missing
                source: http://127.0.0.1:{port}/models/missing.onnx
                sha256: {sha}
                preprocessing: imagenet
            """);
        var cached = UrlCache.PathFor(sha, name);
        try
        {
            var zoo = ModelZoo.Default(file);
            Assert.False(zoo.IsAvailable(zoo.Get("remote")));
            var path = zoo.Resolve("remote");
            Assert.Equal(cached, path);
            Assert.Equal(1, requests);
            Assert.Equal(sha, ModelZoo.Sha256Of(path));
            Assert.True(zoo.IsAvailable(zoo.Get("remote")));
            Assert.Equal(path, zoo.Resolve("remote"));
            Assert.Equal(1, requests);

            // A download whose checksum differs is refused and never stored under its name.
            var e = Assert.Throws<LayerLensException>(() => zoo.Resolve("tampered"));
            Assert.Contains("SHA-256", e.Message);
            Assert.Contains(wrongSha, e.Message);
            Assert.False(File.Exists(UrlCache.PathFor(wrongSha, wrongName)));
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(UrlCache.PathFor(wrongSha, wrongName))!));
            e = Assert.Throws<LayerLensException>(() => zoo.Resolve("missing"));
            Assert.Contains("HTTP 404", e.Message);
            Assert.Equal(3, requests);

            // With the server gone the cached model still resolves and loads: no network needed again.
            listener.Stop();
            await server.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(cached, ModelZoo.Default(file).Resolve("remote"));
            using var graph = ModelLoader.Load(cached);
            Assert.Equal("logits", graph.OutputNames[0]);
        }
        finally
        {
            if (listener.IsListening) listener.Stop();
            listener.Close();
            if (File.Exists(cached)) File.Delete(cached);
            var shaDir = Path.GetDirectoryName(cached)!;
            if (Directory.Exists(shaDir) && !Directory.EnumerateFileSystemEntries(shaDir).Any()) Directory.Delete(shaDir);
            var wrongDir = Path.GetDirectoryName(UrlCache.PathFor(wrongSha, wrongName))!;
            if (Directory.Exists(wrongDir) && !Directory.EnumerateFileSystemEntries(wrongDir).Any()) Directory.Delete(wrongDir);
        }
    }
}
