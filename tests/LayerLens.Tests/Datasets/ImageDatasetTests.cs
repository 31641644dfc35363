using LayerLens.Datasets;
using LayerLens.Images;

namespace LayerLens.Tests.Datasets;

public sealed class ImageDatasetTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ll-dataset").FullName;

    void Image(string rel)
    {
        var path = Path.Combine(_dir, rel);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ImageEncoder.Save(new RgbImage(2, 2, new byte[12]), path);
    }

    string Text(string rel, string content)
    {
        var path = Path.Combine(_dir, rel);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Folder_is_scanned_recursively_with_class_subfolders_as_labels_and_relative_ids()
    {
        Image("cats/b.png");
        Image("cats/a.jpg");
        Image("dogs/deep/c.png");
        Text("dogs/readme.txt", "not an image");
        var ds = ImageDataset.Open(_dir);
        Assert.Equal(new[] { "cats/a.jpg", "cats/b.png", "dogs/deep/c.png" }, ds.Items.Select(i => i.Id));
        Assert.Equal(new[] { "cats", "cats", "dogs" }, ds.Items.Select(i => i.Columns["label"]));
        Assert.Equal(DatasetKind.Folder, ds.Kind);
    }

    [Fact]
    public void Csv_manifest_keeps_columns_and_quoted_fields()
    {
        Image("img/x, y.png");
        Image("img/z.png");
        var m = Text("m.csv", "path,score,label\n\"img/x, y.png\",0.5,\"a \"\"quoted\"\" label\"\nimg/z.png,1e-1,b\n");
        var ds = ImageDataset.Open(m);
        Assert.Equal(new[] { "img/x, y.png", "img/z.png" }, ds.Items.Select(i => i.Id));
        Assert.Equal(new[] { 0.5, 0.1 }, ds.Numbers("score"));
        Assert.Equal("a \"quoted\" label", ds.Items[0].Columns["label"]);
    }

    [Fact]
    public void Tsv_manifest_with_id_column_uses_those_ids()
    {
        Image("q.png");
        var m = Text("m.tsv", "id\tfilename\nimage-7\tq.png\n");
        var ds = ImageDataset.Open(m);
        Assert.Equal("image-7", ds.Items.Single().Id);
    }

    [Fact]
    public void Duplicate_ids_are_reported_with_both_lines()
    {
        Image("a.png");
        var m = Text("m.csv", "path,score\na.png,1\n\na.png,2\n");
        var e = Assert.Throws<LayerLensException>(() => ImageDataset.Open(m));
        Assert.Equal($"{m}:4: duplicate image id 'a.png' (first at line 2)", e.Message);
    }

    [Fact]
    public void Missing_file_is_reported_with_file_and_line()
    {
        Image("a.png");
        var m = Text("m.csv", "path\na.png\nnope.png\n");
        var e = Assert.Throws<LayerLensException>(() => ImageDataset.Open(m));
        Assert.StartsWith($"{m}:3: image file not found:", e.Message);
        Assert.Contains("nope.png", e.Message);
    }

    [Fact]
    public void Non_numeric_score_is_reported_with_file_and_line()
    {
        Image("a.png");
        Image("b.png");
        var m = Text("m.csv", "path,score\na.png,0.3\nb.png,high\n");
        var e = Assert.Throws<LayerLensException>(() => ImageDataset.Open(m));
        Assert.Equal($"{m}:3: score 'high' is not a number", e.Message);
    }

    [Fact]
    public void LaMem_split_reads_paths_and_scores_relative_to_the_images_folder()
    {
        Image("lamem/images/00001.jpg");
        Image("lamem/images/00002.jpg");
        var split = Text("lamem/splits/train_1.txt", "00001.jpg 0.75\n00002.jpg 0.5\n");
        var ds = ImageDataset.Open(split);
        Assert.Equal(DatasetKind.LaMemSplit, ds.Kind);
        Assert.Equal(new[] { "00001.jpg", "00002.jpg" }, ds.Items.Select(i => i.Id));
        Assert.Equal(new[] { 0.75, 0.5 }, ds.Numbers("score"));

        var bad = Text("lamem/splits/val_1.txt", "00001.jpg 0.75\n00002.jpg n/a\n");
        var e = Assert.Throws<LayerLensException>(() => ImageDataset.Open(bad));
        Assert.Equal($"{bad}:2: score 'n/a' is not a number", e.Message);
    }

    [Fact]
    public void MemCat_csv_finds_images_in_category_subfolders()
    {
        Image("memcat/animal/bird/001.jpg");
        Image("memcat/food/fruit/002.jpg");
        var csv = Text("memcat/memcat_image_data.csv", "image_file,category,memorability_w_fa_correction\n001.jpg,animal,0.81\n002.jpg,food,0.62\n");
        var ds = ImageDataset.Open(csv);
        Assert.Equal(DatasetKind.MemCat, ds.Kind);
        Assert.Equal(new[] { "animal/bird/001.jpg", "food/fruit/002.jpg" }, ds.Items.Select(i => i.Id));
        Assert.Equal(new[] { 0.81, 0.62 }, ds.Numbers("memorability_w_fa_correction"));
    }
}
