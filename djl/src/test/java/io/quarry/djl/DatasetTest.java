package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.config.CsvRows;
import io.quarry.protocol.config.RunConfig;
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
    assertEquals(RunConfig.Dataset.trainCount(1000, 0.2), a.train().length);
    int[] all = new int[1000];
    System.arraycopy(a.train(), 0, all, 0, 800);
    System.arraycopy(a.val(), 0, all, 800, 200);
    Arrays.sort(all);
    for (int i = 0; i < 1000; i++) assertEquals(i, all[i]);
    assertFalse(Arrays.equals(a.val(), Split.of(1000, 0.2, 8).val()));
  }

  @Test
  void syntheticIsDeterministicAndStandardisedWithTrainingStatistics() {
    TabularData one = SyntheticDataset.generate(500, 3);
    TabularData two = SyntheticDataset.generate(500, 3);
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
}
