package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetTest {
  @TempDir Path dir;

  @Test
  void csvWithHeaderAndLastColumnLabel() throws IOException {
    Path file = dir.resolve("a.csv");
    Files.writeString(file, "f1,f2,label\n1.5,2,0\n\n3,4.25,2\n5,6,1\n");
    TabularData data = CsvDataset.load(file, -1);
    assertEquals(3, data.rows());
    assertEquals(2, data.features());
    assertEquals(3, data.classes());
    assertArrayEquals(new float[] {1.5f, 2, 3, 4.25f, 5, 6}, data.x());
    assertArrayEquals(new int[] {0, 2, 1}, data.y());
    assertEquals(3, CsvRows.count(file));
  }

  @Test
  void csvGzWithoutHeaderAndFirstColumnLabel() throws IOException {
    Path file = dir.resolve("b.csv.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
      out.write("1,0.5,0.25\n0,1,2\n".getBytes(StandardCharsets.UTF_8));
    }
    TabularData data = CsvDataset.load(file, 0);
    assertEquals(2, data.rows());
    assertArrayEquals(new int[] {1, 0}, data.y());
    assertArrayEquals(new float[] {0.5f, 0.25f, 1, 2}, data.x());
    assertEquals(2, CsvRows.count(file));
  }

  @Test
  void raggedOrCorruptRowNamesFileAndLine() throws IOException {
    Path ragged = dir.resolve("ragged.csv");
    Files.writeString(ragged, "1,2,0\n3,4,1\n5,1\n");
    IOException e = assertThrows(IOException.class, () -> CsvDataset.load(ragged, -1));
    assertTrue(e.getMessage().contains(ragged.toString()) && e.getMessage().contains("line 3"), e.getMessage());

    Path corrupt = dir.resolve("corrupt.csv");
    Files.writeString(corrupt, "a,b,c\n1,2,0\n3,x,1\n");
    e = assertThrows(IOException.class, () -> CsvDataset.load(corrupt, -1));
    assertTrue(e.getMessage().contains(corrupt.toString()) && e.getMessage().contains("line 3"), e.getMessage());

    Path badLabel = dir.resolve("label.csv");
    Files.writeString(badLabel, "1,2,0.5\n");
    e = assertThrows(IOException.class, () -> CsvDataset.load(badLabel, -1));
    assertTrue(e.getMessage().contains("line 1"), e.getMessage());
  }

  @Test
  void splitIsDeterministicDisjointAndSized() {
    Split a = Split.of(1000, 0.2, 7);
    Split b = Split.of(1000, 0.2, 7);
    assertArrayEquals(a.train(), b.train());
    assertArrayEquals(a.val(), b.val());
    assertEquals(200, a.val().length);
    assertEquals(800, a.train().length);
    assertEquals(DjlSettings.Dataset.trainCount(1000, 0.2), a.train().length);
    int[] all = new int[1000];
    System.arraycopy(a.train(), 0, all, 0, 800);
    System.arraycopy(a.val(), 0, all, 800, 200);
    Arrays.sort(all);
    for (int i = 0; i < 1000; i++) assertEquals(i, all[i]);
    assertFalse(Arrays.equals(a.val(), Split.of(1000, 0.2, 8).val()));
  }

  @Test
  void syntheticIsDeterministicAndStandardisedWithTrainingStatistics() {
    TabularData one = BlobsDataset.generate(500, 16, 3);
    TabularData two = BlobsDataset.generate(500, 16, 3);
    assertArrayEquals(one.x(), two.x());
    assertArrayEquals(one.y(), two.y());
    assertEquals(16, one.features());
    assertEquals(10, one.classes());
    PreparedData prepared = PreparedData.prepare(one, 0.2, 3);
    assertEquals(400, prepared.train().rows());
    assertEquals(100, prepared.val().rows());
    int d = prepared.features();
    for (int f = 0; f < d; f++) {
      double sum = 0;
      for (int i = 0; i < 400; i++) sum += prepared.train().x()[i * d + f];
      assertEquals(0, sum / 400, 1e-4);
    }
  }

  @Test
  void datasetSamplesIsTheTrainingSplit() throws IOException {
    RunConfig synthetic = RunConfig.fromOverrides(List.of("trainer=djl", "dataset.synthetic=blobs", "model.type=mlp", "dataset.samples=1000"), Map.of());
    assertEquals(800, synthetic.datasetSamples());
    Path file = dir.resolve("c.csv");
    Files.writeString(file, "x,y\n" + "1,0\n".repeat(10));
    RunConfig csv = RunConfig.fromOverrides(
        List.of("trainer=djl", "model.type=mlp", "dataset.format=csv", "dataset.path=\"" + file + "\"", "dataset.val-fraction=0.3"), Map.of());
    assertEquals(7, csv.datasetSamples());
    RunConfig noPath = RunConfig.fromOverrides(List.of("trainer=djl", "model.type=mlp", "dataset.format=csv"), Map.of());
    RuntimeException e = assertThrows(RuntimeException.class, noPath::datasetSamples);
    assertTrue(e.getMessage().contains("dataset.path"), e.getMessage());
  }

  @Test
  void blobsHaveTheConfiguredFeatures() throws IOException {
    PreparedData data = PreparedData.of(Fixtures.config("dataset.synthetic=blobs", "model.type=mlp", "dataset.samples=100",
        "dataset.features=5"));
    assertEquals(5, data.features());
    assertFalse(data.images());
    assertEquals(10, data.classes());
  }

  @Test
  void datasetSamplesAgreesWithTheLoadedTrainingSplitForEveryFormat() throws IOException {
    Path csv = dir.resolve("d.csv");
    Files.writeString(csv, "1,2,0\n".repeat(23));
    Path idx = Files.createDirectory(dir.resolve("idx"));
    Fixtures.idxPair(idx, "train", 31, ".gz");
    Path idxWithVal = Files.createDirectory(dir.resolve("idx-val"));
    Fixtures.idxPair(idxWithVal, "train", 17, "");
    Fixtures.idxPair(idxWithVal, "t10k", 5, ".gz");
    Path folder = dir.resolve("folder");
    Path folderWithVal = dir.resolve("folder-val");
    var image = Fixtures.rgb(3, 3, (x, y) -> 0x808080);
    for (int i = 0; i < 13; i++) Fixtures.write(folder.resolve("c" + i % 4).resolve(i + ".png"), image);
    for (int i = 0; i < 11; i++) Fixtures.write(folderWithVal.resolve("train/c" + i % 2).resolve(i + ".png"), image);
    Fixtures.write(folderWithVal.resolve("test/c1/t.png"), image);
    List<List<String>> configs = List.of(
        List.of("dataset.samples=57"),
        List.of("dataset.samples=57", "dataset.synthetic=blobs", "model.type=mlp"),
        List.of("dataset.format=csv", "model.type=mlp", "dataset.path=\"" + csv + "\""),
        List.of("dataset.format=idx", "dataset.path=\"" + idx + "\""),
        List.of("dataset.format=idx", "dataset.path=\"" + idxWithVal + "\""),
        List.of("dataset.format=image-folder", "dataset.path=\"" + folder + "\"", "dataset.image-size=8"),
        List.of("dataset.format=image-folder", "dataset.path=\"" + folderWithVal + "\"", "dataset.image-size=8"));
    for (List<String> overrides : configs) {
      RunConfig config = Fixtures.config(overrides.toArray(new String[0]));
      PreparedData data = PreparedData.of(config);
      assertEquals(config.datasetSamples(), data.train().rows(), overrides.toString());
      assertTrue(data.val().rows() > 0, overrides.toString());
    }
  }

  @Test
  void theRepositorysDigitsLoadAsTheCoordinatorCountsThem() throws IOException {
    Path digits = Path.of("../data/digits/digits.csv.gz").toAbsolutePath().normalize();
    assertTrue(Files.isRegularFile(digits), "the repository's data/digits/digits.csv.gz is missing: " + digits);
    RunConfig config = Fixtures.config("dataset.format=csv", "model.type=mlp", "dataset.path=\"" + digits + "\"");
    PreparedData data = PreparedData.of(config);
    assertEquals(1797 - 359, config.datasetSamples());
    assertEquals(config.datasetSamples(), data.train().rows());
    assertEquals(64, data.features());
    assertEquals(10, data.classes());
    float[] raw = data.leadingFeatures(0, 64);
    for (float value : raw) assertEquals(Math.rint(value), value, 1e-4); // pixel counts 0..16, recovered whole
  }
}
