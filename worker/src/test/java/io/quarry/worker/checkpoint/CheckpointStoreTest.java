package io.quarry.worker.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointStoreTest {
  @TempDir Path root;

  private static CheckpointManifest manifest(long step, double valLoss) {
    return new CheckpointManifest(step, 0, step, 7L * step, valLoss, "stub", 1_700_000_000_000L + step, Map.of());
  }

  private Path shardDir() {
    return root.resolve("checkpoints").resolve("0");
  }

  private List<String> entries() throws IOException {
    try (Stream<Path> s = Files.list(shardDir())) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private List<String> stepDirs(CheckpointStore store) {
    return store.checkpoints().stream().map(p -> p.getFileName().toString()).toList();
  }

  @Test
  void savesStepDirectoryWithManifestAndTrainerFilesAndLeavesNoTemporaries() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir());
    CheckpointManifest written = new CheckpointManifest(
        50, 1, 18, 0xDEADBEEFCAFEL, Double.NaN, "stub", 1234L, Map.of("params", "model-0050.params"));

    Path saved = store.save(written, dir -> Files.writeString(dir.resolve("model-0050.params"), "weights"));

    assertEquals(shardDir().resolve("step-50"), saved);
    assertEquals("weights", Files.readString(saved.resolve("model-0050.params")));
    assertTrue(Files.isRegularFile(saved.resolve(CheckpointStore.MANIFEST)));
    assertEquals(List.of("last", "step-50"), entries(), "no temporary directory or pointer file is left behind");
    assertEquals(Optional.of(saved), store.last());
    assertEquals(Optional.empty(), store.best(), "a NaN val loss is never best");
    assertEquals(Optional.of(written), CheckpointStore.load(saved));
  }

  @Test
  void manifestRoundTripsEveryFieldIncludingNaNAndExtremeRngState() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir());
    CheckpointManifest withNaN = new CheckpointManifest(3, 0, 3, Long.MIN_VALUE, Double.NaN, "stub", 1L, Map.of());
    CheckpointManifest withLoss = new CheckpointManifest(4, 2, 0, -1L, 0.123456789012345, "djl", 2L, Map.of("a", "b", "c", ""));

    assertEquals(withNaN, CheckpointStore.load(store.save(withNaN, CheckpointStore.FileWriter.NONE)).orElseThrow());
    assertEquals(withLoss, CheckpointStore.load(store.save(withLoss, CheckpointStore.FileWriter.NONE)).orElseThrow());
    String json = Files.readString(shardDir().resolve("step-3").resolve(CheckpointStore.MANIFEST));
    assertTrue(json.contains("\"val_loss\" : null"), "NaN is written as standard JSON null: " + json);
  }

  @Test
  void failedTrainerWriterLeavesNothingBehind() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir());
    store.save(manifest(10, 1.0), CheckpointStore.FileWriter.NONE);

    assertThrows(IOException.class, () -> store.save(manifest(20, 0.5), dir -> {
      Files.writeString(dir.resolve("half"), "x");
      throw new IOException("disk full");
    }));

    assertEquals(List.of("best", "last", "step-10"), entries());
    assertEquals(Optional.of(shardDir().resolve("step-10")), store.last());
  }

  @Test
  void aSaveTheDiskCannotTakeNamesTheCheckpointAndTheErrorAndLeavesNoTemporary() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir());
    store.save(manifest(10, 1.0), CheckpointStore.FileWriter.NONE);

    IOException full = assertThrows(IOException.class, () -> store.save(manifest(20, 0.5), dir -> {
      Files.writeString(dir.resolve("params"), "half");
      throw new java.nio.file.FileSystemException(dir.resolve("params").toString(), null, "No space left on device");
    }));

    assertEquals("cannot write checkpoint " + shardDir().resolve("step-20") + ": No space left on device",
        full.getMessage());
    assertEquals(List.of("best", "last", "step-10"), entries(), "no temporary directory is left behind");
  }

  @Test
  void onAFullDiskASaveFailsNamingTheCheckpointAndLeavesNoTemporary() throws Exception {
    try (Tmpfs disk = Tmpfs.mount(root, "1m")) {
      Path shard = disk.dir().resolve("checkpoints").resolve("0");
      CheckpointStore store = new CheckpointStore(shard);
      store.save(manifest(10, 1.0), CheckpointStore.FileWriter.NONE);
      disk.fill(0);

      IOException full = assertThrows(IOException.class, () -> store.save(manifest(20, 0.5),
          dir -> Files.write(dir.resolve("params"), new byte[256 * 1024])));

      assertEquals("cannot write checkpoint " + shard.resolve("step-20") + ": No space left on device",
          full.getMessage());
      try (Stream<Path> s = Files.list(shard)) {
        assertEquals(List.of("best", "last", "step-10"), s.map(p -> p.getFileName().toString()).sorted().toList(),
            "no temporary directory is left behind");
      }
      assertEquals(Optional.of(shard.resolve("step-10")), store.last(), "the last complete checkpoint stands");
    }
  }

  @Test
  void keepsNewestCheckpointsPlusBest() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir(), 3);
    double[] valLosses = {2.0, 1.0, 1.5, 1.7, 1.8, 1.9};
    for (int i = 0; i < valLosses.length; i++) store.save(manifest((i + 1) * 10L, valLosses[i]), CheckpointStore.FileWriter.NONE);

    assertEquals(List.of("step-20", "step-40", "step-50", "step-60"), stepDirs(store));
    assertEquals(Optional.of(shardDir().resolve("step-20")), store.best());
    assertEquals(Optional.of(shardDir().resolve("step-60")), store.last());
    assertEquals("step-20\n", Files.readString(shardDir().resolve(CheckpointStore.BEST)));

    store.save(manifest(70, 0.5), CheckpointStore.FileWriter.NONE);

    assertEquals(Optional.of(shardDir().resolve("step-70")), store.best());
    assertEquals(List.of("step-50", "step-60", "step-70"), stepDirs(store), "the old best goes once it is no longer best");
  }

  @Test
  void bestIgnoresNaNAndKeepsEarliestOnATie() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir(), 10);
    store.save(manifest(1, Double.NaN), CheckpointStore.FileWriter.NONE);
    assertEquals(Optional.empty(), store.best());
    store.save(manifest(2, 1.25), CheckpointStore.FileWriter.NONE);
    store.save(manifest(3, 1.25), CheckpointStore.FileWriter.NONE);
    store.save(manifest(4, Double.NaN), CheckpointStore.FileWriter.NONE);

    assertEquals(Optional.of(shardDir().resolve("step-2")), store.best());
  }

  @Test
  void interruptedSavesAreIgnoredAndThenCleanedUp() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir());
    store.save(manifest(10, 1.0), CheckpointStore.FileWriter.NONE);
    // What a crash leaves: a temporary directory mid-write, and a step directory without a manifest.
    Path tmp = Files.createDirectories(shardDir().resolve(".tmp-step-20-1a2b"));
    Files.writeString(tmp.resolve("model.params"), "partial");
    Path noManifest = Files.createDirectories(shardDir().resolve("step-30"));
    Files.writeString(noManifest.resolve("model.params"), "partial");

    assertEquals(Optional.of(shardDir().resolve("step-10")), store.last());
    assertEquals(List.of("step-10"), stepDirs(store));
    assertEquals(Optional.empty(), CheckpointStore.load(noManifest));

    Files.delete(shardDir().resolve(CheckpointStore.LAST));
    assertEquals(Optional.of(shardDir().resolve("step-10")), store.last(), "without a pointer: the newest complete one");

    store.save(manifest(20, 0.9), CheckpointStore.FileWriter.NONE);
    assertEquals(List.of("best", "last", "step-10", "step-20"), entries());
  }

  @Test
  void corruptManifestFailsNamingTheFileAndTheProblem() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir());
    Path dir = store.save(manifest(10, 1.0), CheckpointStore.FileWriter.NONE);
    Path file = dir.resolve(CheckpointStore.MANIFEST);
    String json = Files.readString(file);

    Files.writeString(file, json.substring(0, json.length() / 2));
    CheckpointException truncated = assertThrows(CheckpointException.class, () -> CheckpointStore.load(dir));
    assertTrue(truncated.getMessage().contains(file.toString()), truncated.getMessage());
    assertTrue(truncated.getMessage().contains("not valid JSON"), truncated.getMessage());

    Files.writeString(file, "");
    CheckpointException empty = assertThrows(CheckpointException.class, () -> CheckpointStore.load(dir));
    assertTrue(empty.getMessage().contains(file.toString()) && empty.getMessage().contains("empty"), empty.getMessage());

    Files.writeString(file, json.replace("\"rng_state\"", "\"rng\""));
    CheckpointException missing = assertThrows(CheckpointException.class, () -> CheckpointStore.load(dir));
    assertTrue(missing.getMessage().contains(file.toString()) && missing.getMessage().contains("'rng_state'"),
        missing.getMessage());

    Files.writeString(file, json.replace("\"step\" : 10", "\"step\" : -3"));
    CheckpointException negative = assertThrows(CheckpointException.class, () -> CheckpointStore.load(dir));
    assertTrue(negative.getMessage().contains("'step' must be >= 0"), negative.getMessage());

    Files.writeString(file, json.replace("\"step\" : 10", "\"step\" : 11"));
    CheckpointException mismatch = assertThrows(CheckpointException.class, () -> CheckpointStore.load(dir));
    assertTrue(mismatch.getMessage().contains("says step 11 but its directory is step-10"), mismatch.getMessage());

    Files.writeString(file, json.replace("\"format\" : 1", "\"format\" : 9"));
    CheckpointException format = assertThrows(CheckpointException.class, () -> CheckpointStore.load(dir));
    assertTrue(format.getMessage().contains("format 9"), format.getMessage());
  }

  @Test
  void resavingAStepReplacesItAndSupersedesLaterCheckpointsOfAnAbandonedAttempt() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir(), 5);
    for (long step : new long[] {10, 20, 30, 40}) store.save(manifest(step, Double.NaN), CheckpointStore.FileWriter.NONE);

    // A new attempt resumed from step 20 writes step 30 again.
    CheckpointManifest again = new CheckpointManifest(30, 0, 30, 99, Double.NaN, "stub", 5L, Map.of("attempt", "2"));
    Path saved = store.save(again, CheckpointStore.FileWriter.NONE);

    assertEquals(Optional.of(again), CheckpointStore.load(saved));
    assertEquals(List.of("step-10", "step-20", "step-30"), stepDirs(store), "step-40 belonged to the abandoned attempt");
    assertEquals(Optional.of(saved), store.last());
  }

  @Test
  void pointerNeverLeadsOutsideTheShardDirectory() throws IOException {
    CheckpointStore store = new CheckpointStore(shardDir());
    store.save(manifest(10, 1.0), CheckpointStore.FileWriter.NONE);
    Files.writeString(shardDir().resolve(CheckpointStore.LAST), "../../elsewhere\n", StandardCharsets.UTF_8);

    assertEquals(Optional.of(shardDir().resolve("step-10")), store.last());
  }

  @Test
  void emptyStoreHasNoCheckpoints() {
    CheckpointStore store = new CheckpointStore(shardDir());
    assertEquals(Optional.empty(), store.last());
    assertEquals(Optional.empty(), store.best());
    assertFalse(Files.exists(shardDir()), "reading creates nothing");
  }
}
