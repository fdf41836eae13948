package io.quarry.worker.trainer;

import io.quarry.protocol.HardExample;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.config.RunConfig;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.telemetry.TelemetryEmitter;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** Everything a {@link Trainer} may use while it trains one shard attempt. Safe to call from the training thread. */
public interface TrainerContext {
  String runId();

  String workerId();

  /** The device the worker is bound to ({@code cpu}, {@code gpu:0}). */
  String device();

  RunConfig config();

  ShardAssignment assignment();

  /**
   * Where this attempt writes its checkpoints: a directory of its own ({@code checkpoints/<shard>/attempt-<n>}), so
   * an attempt the run has given up on can never overwrite the next one's. {@link #resumeFrom()} may be elsewhere.
   */
  Path checkpointDir();

  /** The checkpoint to resume from, if this attempt resumes one. */
  Optional<Path> resumeFrom();

  /** True once the worker has been asked to stop this shard; the trainer returns within one step. */
  boolean stopRequested();

  /** Where per-sample losses go (the worker's hard-example tracker for this run). */
  HardExampleSink hardExamples();

  /** Where per-step scalars go; never blocks, drops (and counts) under back-pressure. */
  TelemetryEmitter telemetry();

  /**
   * The run's latest merged hard examples (the last all-gather's result, the same on every worker), highest loss
   * first; empty before the first merge. A trainer may replay or up-weight them.
   */
  default List<HardExample> mergedHardExamples() {
    return List.of();
  }

  /**
   * Registers how this run's hard examples are rendered for people (a PNG thumbnail, the leading features). The
   * worker renders a sample only once it has survived a merge as this worker's entry, off the training thread, and
   * at most once per run; nothing is rendered for a run whose trainer registers no renderer. The renderer stays
   * registered for the run on this worker after this attempt ends (the final merge comes after every shard has
   * finished), until the run is released; a later call, from this attempt or another of the same run, replaces it.
   * Contexts that do not send payloads (tests) may ignore it.
   */
  default void payloads(PayloadRenderer renderer) {}

  /** Reports a checkpoint the trainer has written completely; the shard resumes from it if this attempt is lost. */
  void checkpointSaved(long step, Path checkpoint);
}
