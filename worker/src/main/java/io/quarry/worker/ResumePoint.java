package io.quarry.worker;

import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.checkpoint.CheckpointException;
import io.quarry.worker.checkpoint.CheckpointStore;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Where a shard attempt may start: a checkpoint of its shard, or the shard's start.
 *
 * <p>{@link #candidates} lists them newest first. The coordinator names the checkpoint it last recorded for the shard
 * ({@link ShardAssignment#resumeFrom()}), but that one may be gone or not the newest: an attempt the run gave up on
 * (its worker cut off, or paused) can have trained on and pruned it. Every complete checkpoint (its manifest written)
 * in any attempt's directory of the shard is valid progress of that shard, whoever wrote it, so the newest one wins;
 * should it turn out unusable when the trainer loads it, the attempt falls back to the next, and finally to the
 * shard's start.
 *
 * @param checkpoint the checkpoint's directory; {@code null} for the shard's start
 * @param step the shard step it holds (0 for the start)
 */
record ResumePoint(Path checkpoint, long step) {
  /** The shard's start. */
  static final ResumePoint START = new ResumePoint(null, 0);

  private static final Pattern ATTEMPT_DIR = Pattern.compile("attempt-\\d+");

  /**
   * The points attempt {@code assignment} may start from, newest first, ending with {@link #START}: the complete
   * checkpoints in the directories of every attempt of the shard (siblings of the assignment's checkpoint directory),
   * and the checkpoint the coordinator recorded if it exists (a program's checkpoint has no manifest of Quarry's, so
   * it counts as it was recorded). Of equal steps, the recorded one comes first.
   */
  static List<ResumePoint> candidates(ShardAssignment assignment) {
    List<ResumePoint> points = new ArrayList<>();
    Set<Path> seen = new HashSet<>();
    String recorded = assignment.resumeFrom();
    if (recorded != null && Files.isDirectory(Path.of(recorded))) {
      points.add(new ResumePoint(Path.of(recorded), assignment.resumeStep()));
      seen.add(real(Path.of(recorded)));
    }
    Path own = Path.of(assignment.checkpointDir());
    Path shardDir = own.getParent();
    if (shardDir != null && own.getFileName() != null && ATTEMPT_DIR.matcher(own.getFileName().toString()).matches()) {
      for (Path attemptDir : attemptDirs(shardDir)) {
        for (Path checkpoint : new CheckpointStore(attemptDir).checkpoints()) {
          if (!seen.add(real(checkpoint))) continue;
          try {
            CheckpointStore.load(checkpoint).ifPresent(manifest -> points.add(new ResumePoint(checkpoint, manifest.step())));
          } catch (CheckpointException e) {
            // A corrupt manifest is no progress; the newest valid one serves.
          }
        }
      }
    }
    points.sort(Comparator.comparingLong(ResumePoint::step).reversed()); // stable: the recorded one first on a tie
    points.add(START);
    return List.copyOf(points);
  }

  private static List<Path> attemptDirs(Path shardDir) {
    List<Path> dirs = new ArrayList<>();
    if (!Files.isDirectory(shardDir)) return dirs;
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(shardDir)) {
      for (Path entry : entries) {
        if (Files.isDirectory(entry) && ATTEMPT_DIR.matcher(entry.getFileName().toString()).matches()) dirs.add(entry);
      }
    } catch (IOException e) {
      // Unreadable: what the coordinator recorded, or the start.
    }
    return dirs;
  }

  private static Path real(Path path) {
    try {
      return path.toRealPath();
    } catch (IOException e) {
      return path.toAbsolutePath().normalize();
    }
  }
}
