package io.quarry.worker.trainer;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.checkpoint.CheckpointStore;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.telemetry.TelemetryEmitter;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Everything a {@link Trainer} may use while it trains one shard attempt. Safe to call from the training thread.
 *
 * <p>The worker reports how far the attempt has come from what the trainer hands it here, in fast mode too: the
 * steps of offers and telemetry events are a step's index (from 0, counted from the shard's start, so index
 * {@code n} means {@code n + 1} steps done), a checkpoint's step is the steps done; the loss is that of the last
 * {@code telemetry().step} call.
 */
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

  /**
   * The store to save this attempt's checkpoints in ({@link #checkpointDir()}): use it, not a store of your own, so
   * that a worker that has lost its coordinator writes nothing more (its attempt may already run elsewhere).
   */
  default CheckpointStore checkpointStore() {
    return new CheckpointStore(checkpointDir());
  }

  /** The checkpoint to resume from, if this attempt resumes one. */
  Optional<Path> resumeFrom();

  /**
   * A checkpoint of another run whose parameters this attempt starts from, at step 0 and with a fresh optimizer
   * ({@code init.from}, fine-tuning); empty when the run names none, and when the attempt resumes a checkpoint of its
   * own shard ({@link #resumeFrom()} wins). May read the other run's checkpoint directories: call it on the training
   * thread. Trainers without parameters ignore it.
   *
   * @throws io.quarry.worker.checkpoint.CheckpointException when that run has no checkpoint to start from
   */
  default Optional<Path> initFrom() {
    return Optional.empty();
  }

  /** True once the worker has been asked to stop this shard; the trainer returns within one step. */
  boolean stopRequested();

  /** Where per-sample losses go (the run's hard-example tracker on this worker); they count as samples trained. */
  HardExampleSink hardExamples();

  /**
   * Where per-step scalars go; never blocks, drops (and counts) under back-pressure. Trainers only emit: the worker
   * owns the emitter's lifecycle ({@link TelemetryEmitter#retarget}, {@link TelemetryEmitter#complete}).
   */
  TelemetryEmitter telemetry();

  /**
   * Registers how this run's hard examples are rendered for people (a PNG thumbnail, the leading features). The
   * worker renders a sample only once it has survived a merge as this worker's entry, off the training thread, and
   * at most once per run; nothing is rendered for a run whose trainer registers no renderer. The renderer stays
   * registered for the run on this worker after this attempt ends (the final merge comes after every shard has
   * finished), until the run is released; a later call, from this attempt or another of the same run, replaces it.
   * Contexts that do not send payloads (tests) may ignore it.
   */
  default void payloads(PayloadRenderer renderer) {}

  /**
   * Reports a checkpoint the trainer has written completely; the shard resumes from it if this attempt is lost.
   *
   * @param step the steps done, counted from the shard's start: the step a resumed attempt starts at
   */
  void checkpointSaved(long step, Path checkpoint);

  /**
   * Parameter averaging ({@code sync.mode = average}): sends this shard's parameters for round {@code round} to the
   * run's all-reduce ring ({@code sync.transport = ring}: the members sum them peer to peer; a round that aborts returns
   * {@code params}) or to the run actor ({@code sync.transport = coordinator}), blocks the training thread until the run has averaged the parameters of its shards, and returns the average,
   * from which the shard continues. Returns {@code params} itself, at once, when the run does not average
   * ({@code sync.mode = none}, the default here, or a run of one shard).
   *
   * <p>When to call it: after the optimizer step that brings the shard's step count (counted from the shard's start,
   * across epochs, as checkpoints count it) to a multiple of {@code sync.every}, with {@code round = steps / every};
   * and after the shard's last step when that count is not a multiple, with {@code round = steps / every + 1}.
   * Numbered by step, a shard resumed from a checkpoint rejoins at the right round; one that is behind (a round the
   * others have completed) gets the run's latest average at once. Every shard must send a vector of the same length
   * with the parameters in the same order.
   *
   * <p>It never hangs the run: without an answer within twice {@code sync.timeout} plus
   * {@code quarry.worker.sync-wait-margin}, when the round ended with no average, or when a stop is requested while
   * it waits, it returns {@code params} (and logs why). It throws {@link IllegalStateException}, failing the attempt,
   * when the run refuses the parameters (a vector of another length than the other shards'). {@code params} is not
   * changed; the average is a new array.
   *
   * @param round the averaging round, from 0
   * @param params the shard's parameters, flattened
   * @return the average of the run's shards for this round (or the latest), or {@code params} as above
   * @throws InterruptedException when the training thread is interrupted while it waits
   */
  default float[] averageParameters(long round, float[] params) throws InterruptedException {
    return params;
  }

  /**
   * Synchronous data parallel ({@code sync.mode = allreduce}): replaces {@code gradients} by the mean of the run's
   * shards' gradients for this step, on the run's all-reduce ring, peer to peer. Call it every step, after the backward
   * pass and before the optimizer step, with the gradients flattened in parameter order (every shard alike).
   *
   * <p>On the first round of a new ring (the run's first, or one re-formed after a member was lost) the members first
   * average their parameters (asked of {@code parameters} only then) the same way, so that every replica continues
   * from the same bits: {@link GradientRound#parameters} then holds them, to be written into the model. A round that aborts (a member lost
   * mid-round, nothing within {@code sync.timeout}) returns 0 shards and leaves {@code gradients} as they were: the
   * trainer skips the optimizer step (and may train the step again), and every member keeps its parameters from
   * before the round. Returns
   * {@link GradientRound#ALONE} at once when the run does not use all-reduce or has one shard.
   *
   * @throws InterruptedException when the training thread is interrupted while it waits
   */
  default GradientRound allReduceGradients(long round, float[] gradients,
      java.util.function.Supplier<float[]> parameters) throws InterruptedException {
    return GradientRound.ALONE;
  }
}
