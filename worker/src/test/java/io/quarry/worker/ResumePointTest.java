package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.checkpoint.CheckpointManifest;
import io.quarry.worker.checkpoint.CheckpointStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResumePointTest {
  @TempDir Path shardDir;

  private Path save(int attempt, long step) throws Exception {
    CheckpointStore store = new CheckpointStore(shardDir.resolve("attempt-" + attempt), 10);
    return store.save(new CheckpointManifest(step, 0, step, 1, Double.NaN, "stub", 0, Map.of()), CheckpointStore.FileWriter.NONE);
  }

  private ShardAssignment attempt(int attempt, Path recorded, long recordedStep) {
    return new ShardAssignment(0, 1, attempt, 0, 100, shardDir.resolve("attempt-" + attempt).toString(),
        recorded == null ? null : recorded.toString(), recordedStep);
  }

  private static List<Long> steps(List<ResumePoint> points) {
    return points.stream().map(ResumePoint::step).toList();
  }

  @Test
  void theNewestCompleteCheckpointOfAnyAttemptComesFirstThenOlderOnesThenTheStart() throws Exception {
    Path recorded = save(1, 20);
    save(1, 35); // an abandoned attempt that trained on after the coordinator recorded step 20
    save(2, 10);
    List<ResumePoint> points = ResumePoint.candidates(attempt(3, recorded, 20));
    assertEquals(List.of(35L, 20L, 10L, 0L), steps(points));
    assertEquals(shardDir.resolve("attempt-1/step-35"), points.get(0).checkpoint());
    assertEquals(ResumePoint.START, points.get(points.size() - 1));
  }

  @Test
  void aRecordedCheckpointThatIsGoneOrCorruptIsPassedOver() throws Exception {
    Path kept = save(1, 20);
    Path pruned = save(1, 30);
    CheckpointStore.load(pruned); // it was complete...
    deleteTree(pruned);           // ...and the abandoned attempt's retention removed it
    Path corrupt = save(1, 40);
    Files.writeString(corrupt.resolve(CheckpointStore.MANIFEST), "{not json");
    assertEquals(List.of(20L, 0L), steps(ResumePoint.candidates(attempt(2, pruned, 30))));
    assertEquals(kept, ResumePoint.candidates(attempt(2, pruned, 30)).get(0).checkpoint());
  }

  @Test
  void aProgramsOwnCheckpointCountsAsRecordedAndWinsATie() throws Exception {
    Path program = Files.createDirectories(shardDir.resolve("attempt-1/step-50"));
    Files.writeString(program.resolve("state.pt"), "weights");
    save(2, 50);
    List<ResumePoint> points = ResumePoint.candidates(attempt(3, program, 50));
    assertEquals(List.of(50L, 50L, 0L), steps(points));
    assertEquals(program, points.get(0).checkpoint());
  }

  @Test
  void aFreshShardStartsAtTheStart() {
    assertEquals(List.of(ResumePoint.START), ResumePoint.candidates(attempt(1, null, 0)));
  }

  private static void deleteTree(Path root) throws Exception {
    try (var paths = Files.walk(root)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
