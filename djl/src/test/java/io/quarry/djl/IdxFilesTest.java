package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxFilesTest {
  @TempDir Path dir;

  /** An idx file of {@code count} samples of {@code dims} bytes each (zeros), gzipped when the name ends in .gz. */
  static void write(Path file, int magic, int count, int... dims) throws IOException {
    OutputStream raw = Files.newOutputStream(file);
    if (file.toString().endsWith(".gz")) raw = new GZIPOutputStream(raw);
    try (DataOutputStream out = new DataOutputStream(raw)) {
      out.writeInt(magic);
      out.writeInt(count);
      int size = 1;
      for (int d : dims) {
        out.writeInt(d);
        size *= d;
      }
      out.write(new byte[count * size]);
    }
  }

  private void trainFiles(int count, String suffix) throws IOException {
    write(dir.resolve("train-images-idx3-ubyte" + suffix), IdxFiles.IMAGES_MAGIC, count, 4, 3);
    write(dir.resolve("train-labels-idx1-ubyte" + suffix), IdxFiles.LABELS_MAGIC, count);
  }

  private RunConfig config(String... more) {
    List<String> overrides = new java.util.ArrayList<>(List.of("trainer=djl", "dataset.format=idx",
        "dataset.path=\"" + dir + "\"", "dataset.val-fraction=0.2"));
    overrides.addAll(List.of(more));
    return RunConfig.fromOverrides(overrides, Map.of());
  }

  @Test
  void trainingSamplesAreTheTrainFileLessTheValFractionWithoutT10kFiles() throws IOException {
    trainFiles(50, "");
    IdxFiles files = IdxFiles.locate(dir);
    assertFalse(files.hasVal());
    assertNull(files.valImages());
    assertEquals(40, files.trainingSamples(0.2));
    assertEquals(40, config().datasetSamples());
  }

  @Test
  void t10kFilesAreTheValidationSplitSoTheWholeTrainFileTrains() throws IOException {
    trainFiles(50, ".gz");
    write(dir.resolve("t10k-images-idx3-ubyte.gz"), IdxFiles.IMAGES_MAGIC, 7, 4, 3);
    write(dir.resolve("t10k-labels-idx1-ubyte"), IdxFiles.LABELS_MAGIC, 7);
    IdxFiles files = IdxFiles.locate(dir);
    assertTrue(files.hasVal());
    assertEquals(dir.resolve("t10k-labels-idx1-ubyte"), files.valLabels());
    assertEquals(50, config().datasetSamples());
  }

  @Test
  void thePlainFileWinsOverItsGzip() throws IOException {
    trainFiles(20, "");
    write(dir.resolve("train-images-idx3-ubyte.gz"), IdxFiles.IMAGES_MAGIC, 99, 4, 3);
    assertEquals(dir.resolve("train-images-idx3-ubyte"), IdxFiles.locate(dir).trainImages());
    assertEquals(20, IdxFiles.locate(dir).trainingSamples(0));
  }

  @Test
  void missingTrainFilesAreNamedWithWhatIsExpected() throws IOException {
    RunConfigException e = assertThrows(RunConfigException.class, () -> config().datasetSamples());
    assertTrue(e.getMessage().contains("dataset.path") && e.getMessage().contains(dir.toString())
        && e.getMessage().contains("train-images-idx3-ubyte and train-labels-idx1-ubyte"), e.getMessage());

    write(dir.resolve("train-images-idx3-ubyte"), IdxFiles.IMAGES_MAGIC, 5, 4, 3);
    e = assertThrows(RunConfigException.class, () -> IdxFiles.locate(dir));
    assertTrue(e.getMessage().contains("has no train-labels-idx1-ubyte"), e.getMessage());
  }

  @Test
  void halfAValidationPairIsRefused() throws IOException {
    trainFiles(5, "");
    write(dir.resolve("t10k-images-idx3-ubyte"), IdxFiles.IMAGES_MAGIC, 2, 4, 3);
    RunConfigException e = assertThrows(RunConfigException.class, () -> IdxFiles.locate(dir));
    assertTrue(e.getMessage().contains("t10k-images-idx3-ubyte but no t10k-labels-idx1-ubyte"), e.getMessage());
  }

  @Test
  void aPathThatIsNotADirectoryOrIsEmptyNamesTheKey() throws IOException {
    Path file = dir.resolve("mnist.gz");
    Files.writeString(file, "x");
    RunConfigException e = assertThrows(RunConfigException.class, () -> IdxFiles.locate(file));
    assertTrue(e.getMessage().contains("dataset.path") && e.getMessage().contains("is not a directory"), e.getMessage());

    RunConfig noPath = RunConfig.fromOverrides(List.of("trainer=djl", "dataset.format=idx"), Map.of());
    e = assertThrows(RunConfigException.class, noPath::datasetSamples);
    assertTrue(e.getMessage().contains("'dataset.path': empty") && e.getMessage().contains("train-images-idx3-ubyte"), e.getMessage());
  }

  @Test
  void aBadHeaderIsReportedWithTheFile() throws IOException {
    Path images = dir.resolve("train-images-idx3-ubyte");
    write(images, 0x00000D03, 5, 4, 3); // floats, not unsigned bytes
    write(dir.resolve("train-labels-idx1-ubyte"), IdxFiles.LABELS_MAGIC, 5);
    RunConfigException e = assertThrows(RunConfigException.class, () -> config().datasetSamples());
    assertTrue(e.getMessage().contains(images.toString()) && e.getMessage().contains("0x00000D03")
        && e.getMessage().contains("only 0x08 (unsigned byte)"), e.getMessage());

    Files.write(images, new byte[] {0, 0, 8, 3, 0, 0});
    e = assertThrows(RunConfigException.class, () -> IdxFiles.locate(dir).trainingSamples(0.2));
    assertTrue(e.getMessage().contains(images + ": truncated"), e.getMessage());

    Files.write(images, "not idx at all".getBytes());
    e = assertThrows(RunConfigException.class, () -> IdxFiles.locate(dir).trainingSamples(0.2));
    assertTrue(e.getMessage().contains("not an idx file"), e.getMessage());

    Path gz = dir.resolve("train-images-idx3-ubyte.gz");
    Files.delete(images);
    Files.writeString(gz, "not gzip");
    e = assertThrows(RunConfigException.class, () -> IdxFiles.locate(dir).trainingSamples(0.2));
    assertTrue(e.getMessage().contains(gz + ": not a gzip file"), e.getMessage());
  }
}
