package io.quarry.worker;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.checkpoint.CheckpointException;
import io.quarry.worker.checkpoint.CheckpointManifest;
import io.quarry.worker.checkpoint.CheckpointStore;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The checkpoint whose parameters a run's shards start from with {@code init.from = RUN_ID[:best|last]}
 * (fine-tuning): among every complete checkpoint of every shard and attempt of that run, in the same runs directory
 * as this run's, its best (the lowest validation loss; the last when none was evaluated) or its last (the furthest
 * step, then the newest).
 */
final class InitCheckpoint {
  private record Candidate(Path path, CheckpointManifest manifest) {}

  private InitCheckpoint() {}

  /**
   * The checkpoint attempt {@code assignment} of a run with {@code from} starts from: the runs directory is the one
   * its own checkpoint directory is in ({@code <runs>/<run>/checkpoints/<shard>/attempt-<n>}).
   *
   * @throws CheckpointException when that run has no complete checkpoint, naming where it looked
   */
  static Path find(ShardAssignment assignment, RunConfig.InitFrom from) {
    Path own = Path.of(assignment.checkpointDir()).toAbsolutePath();
    Path runsDir = own.getParent().getParent().getParent().getParent();
    return find(runsDir.resolve(from.runId()).resolve("checkpoints"), from);
  }

  /** The checkpoint of {@code from} under its checkpoints directory {@code checkpoints}. */
  static Path find(Path checkpoints, RunConfig.InitFrom from) {
    List<Candidate> candidates = new ArrayList<>();
    for (Path shard : children(checkpoints)) {
      for (Path attempt : children(shard)) {
        for (Path step : new CheckpointStore(attempt).checkpoints()) {
          try {
            CheckpointStore.load(step).ifPresent(manifest -> candidates.add(new Candidate(step, manifest)));
          } catch (CheckpointException e) {
            // A damaged manifest is no checkpoint to start from.
          }
        }
      }
    }
    Optional<Candidate> best = from.best()
        ? candidates.stream().filter(c -> c.manifest().hasValLoss())
            .min((a, b) -> a.manifest().valLoss() != b.manifest().valLoss()
                ? Double.compare(a.manifest().valLoss(), b.manifest().valLoss())
                : Long.compare(b.manifest().step(), a.manifest().step()))
        : Optional.empty();
    Optional<Candidate> chosen = best.or(() -> candidates.stream().max((a, b) -> a.manifest().step() != b.manifest().step()
        ? Long.compare(a.manifest().step(), b.manifest().step())
        : Long.compare(a.manifest().createdUnixMs(), b.manifest().createdUnixMs())));
    return chosen.map(Candidate::path).orElseThrow(() -> new CheckpointException("init.from = " + from + ": run "
        + from.runId() + " has no complete checkpoint under " + checkpoints + "; allowed: a run of this runs "
        + "directory that wrote checkpoints"));
  }

  private static List<Path> children(Path dir) {
    List<Path> children = new ArrayList<>();
    if (!Files.isDirectory(dir)) return children;
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path entry : entries) if (Files.isDirectory(entry)) children.add(entry);
    } catch (IOException e) {
      // Unreadable: nothing there to start from.
    }
    children.sort(null);
    return children;
  }
}
