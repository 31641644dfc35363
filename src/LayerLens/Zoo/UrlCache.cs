namespace LayerLens.Zoo;

/// <summary>
/// Model files downloaded from http(s) URLs into the cache (<see cref="NpmPackageCache.Root"/>/url/SHA256/NAME).
/// A file is downloaded once, checked against its SHA-256 before it is stored under its final name, and read from
/// disk afterwards without touching the network.
/// </summary>
public static class UrlCache
{
    /// <summary>Where the file with this checksum and name is kept.</summary>
    public static string PathFor(string sha256, string fileName) =>
        Path.Combine(NpmPackageCache.Root, "url", sha256.ToLowerInvariant(), fileName);

    /// <summary>The cached file, downloading it first when it is not in the cache.</summary>
    public static string Ensure(string url, string sha256, string fileName, TextWriter? log = null, TimeSpan? timeout = null)
    {
        var path = PathFor(sha256, fileName);
        if (File.Exists(path)) return path;
        var dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{fileName}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            log?.WriteLine($"downloading {url} into {dir}");
            using (var http = new HttpClient { Timeout = timeout ?? TimeSpan.FromMinutes(30) })
            {
                HttpResponseMessage response;
                try
                {
                    response = http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    throw new LayerLensException($"{url}: download failed ({e.Message})", ErrorKind.BadInput, e);
                }
                using (response)
                {
                    if (!response.IsSuccessStatusCode)
                        throw new LayerLensException($"{url}: download failed (HTTP {(int)response.StatusCode} {response.ReasonPhrase})", ErrorKind.BadInput);
                    using var body = response.Content.ReadAsStream();
                    using var file = File.Create(tmp);
                    body.CopyTo(file);
                }
            }
            string actual = ModelZoo.Sha256Of(tmp);
            if (!string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
                throw new LayerLensException($"{url}: the downloaded file has SHA-256 {actual}, the zoo expects {sha256.ToLowerInvariant()}; not stored", ErrorKind.BadInput);
            // Only a complete, checked file ever gets the final name.
            File.Move(tmp, path, overwrite: true);
            return path;
        }
        finally
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); } catch (IOException) { }
        }
    }
}
