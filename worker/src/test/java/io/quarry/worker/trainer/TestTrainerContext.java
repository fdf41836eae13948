package io.quarry.worker.trainer;

import io.quarry.config.RunConfig;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.telemetry.TelemetryEmitter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * A {@link TrainerContext} for trainer tests, without actors: it records every hard-example offer, telemetry
 * event, checkpoint report, averaging call and payload renderer (copies, since trainers reuse their arrays), and
 * has a stop flag that any thread may set. Recording is thread-safe; the accessors return snapshots.
 */
public final class TestTrainerContext implements TrainerContext {
  /** One step's offer; {@code labels} and {@code predicted} are null when the trainer offered none. */
  public record Offer(long step, long[] sampleIds, float[] losses, int[] labels, int[] predicted) {}

  public record StepEvent(long step, int epoch, float loss, float lr, float samplesPerSec) {}

  public record EpochEvent(long step, int epoch, float meanLoss) {}

  public record EvalEvent(long step, int epoch, float valLoss, float valAccuracy) {}

  public record Checkpoint(long step, Path path) {}

  /** One {@link #averageParameters} call: the round and a copy of the parameters sent. */
  public record AveragingCall(long round, float[] params) {}

  private final RunConfig config;
  private final ShardAssignment assignment;
  private final Path checkpointDir;
  private final Path resumeFrom;
  private volatile boolean stopRequested;
  private volatile Consumer<StepEvent> onStep = e -> {};
  private volatile boolean recordOffers = true;
  private volatile BiFunction<Long, float[], float[]> averager = (round, params) -> params;
  private volatile PayloadRenderer renderer;

  private final List<Offer> offers = new ArrayList<>();
  private final List<StepEvent> steps = new ArrayList<>();
  private final List<EpochEvent> epochs = new ArrayList<>();
  private final List<EvalEvent> evals = new ArrayList<>();
  private final List<Checkpoint> checkpoints = new ArrayList<>();
  private final List<AveragingCall> averagingCalls = new ArrayList<>();

  public TestTrainerContext(RunConfig config, ShardAssignment assignment, Path checkpointDir, Path resumeFrom) {
    this.config = config;
    this.assignment = assignment;
    this.checkpointDir = checkpointDir;
    this.resumeFrom = resumeFrom;
  }

  /** A context for attempt {@code attempt} of shard {@code shard} holding samples [firstSample, firstSample + count). */
  public static TestTrainerContext forShard(
      RunConfig config, int shard, int attempt, long firstSample, long sampleCount, Path checkpointDir, Path resumeFrom) {
    // The step a checkpoint holds, as the coordinator records it; here from its name (step-N), which every trainer of
    // these tests gives its checkpoints.
    long resumeStep = resumeFrom == null ? 0 : Long.parseLong(resumeFrom.getFileName().toString().replaceFirst("^step-", ""));
    ShardAssignment assignment = new ShardAssignment(shard, Math.max(1, shard + 1), attempt, firstSample, sampleCount,
        checkpointDir.toString(), resumeFrom == null ? null : resumeFrom.toString(), resumeStep);
    return new TestTrainerContext(config, assignment, checkpointDir, resumeFrom);
  }

  /** Runs {@code listener} on the training thread after each recorded step event (e.g. to request a stop). */
  public TestTrainerContext onStep(Consumer<StepEvent> listener) {
    this.onStep = listener;
    return this;
  }

  /** Stops copying offers (for long runs where only the telemetry matters). */
  public TestTrainerContext withoutOffers() {
    this.recordOffers = false;
    return this;
  }

  /**
   * Answers {@link #averageParameters} with {@code averager(round, params)}, standing in for the run's average; by
   * default the parameters come back unchanged, as with {@code sync.mode = none}.
   */
  public TestTrainerContext withAverager(BiFunction<Long, float[], float[]> averager) {
    this.averager = averager;
    return this;
  }

  public void requestStop() {
    stopRequested = true;
  }

  public synchronized List<Offer> offers() {
    return List.copyOf(offers);
  }

  public synchronized List<StepEvent> steps() {
    return List.copyOf(steps);
  }

  public synchronized List<EpochEvent> epochs() {
    return List.copyOf(epochs);
  }

  public synchronized List<EvalEvent> evals() {
    return List.copyOf(evals);
  }

  public synchronized List<AveragingCall> averagingCalls() {
    return List.copyOf(averagingCalls);
  }

  public synchronized List<Checkpoint> checkpoints() {
    return List.copyOf(checkpoints);
  }

  /** The last checkpoint the trainer reported, as the worker would hand it to the next attempt. */
  public synchronized Optional<Path> lastCheckpoint() {
    return checkpoints.isEmpty() ? Optional.empty() : Optional.of(checkpoints.get(checkpoints.size() - 1).path());
  }

  @Override
  public String runId() {
    return "test-run";
  }

  @Override
  public String workerId() {
    return "test-worker";
  }

  @Override
  public String device() {
    return "cpu";
  }

  @Override
  public RunConfig config() {
    return config;
  }

  @Override
  public ShardAssignment assignment() {
    return assignment;
  }

  @Override
  public Path checkpointDir() {
    return checkpointDir;
  }

  @Override
  public Optional<Path> resumeFrom() {
    return Optional.ofNullable(resumeFrom);
  }

  @Override
  public boolean stopRequested() {
    return stopRequested;
  }

  @Override
  public HardExampleSink hardExamples() {
    return (sampleIds, losses, labels, predicted, count, step) -> {
      if (!recordOffers) return;
      Offer offer = new Offer(step, Arrays.copyOf(sampleIds, count), Arrays.copyOf(losses, count),
          labels == null ? null : Arrays.copyOf(labels, count), predicted == null ? null : Arrays.copyOf(predicted, count));
      synchronized (this) {
        offers.add(offer);
      }
    };
  }

  @Override
  public TelemetryEmitter telemetry() {
    return new TelemetryEmitter() {
      @Override
      public boolean step(long step, int epoch, float loss, float lr, float samplesPerSec) {
        StepEvent event = new StepEvent(step, epoch, loss, lr, samplesPerSec);
        synchronized (TestTrainerContext.this) {
          steps.add(event);
        }
        onStep.accept(event);
        return true;
      }

      @Override
      public boolean epoch(long step, int epoch, float meanLoss) {
        synchronized (TestTrainerContext.this) {
          epochs.add(new EpochEvent(step, epoch, meanLoss));
        }
        return true;
      }

      @Override
      public boolean eval(long step, int epoch, float valLoss, float valAccuracy) {
        synchronized (TestTrainerContext.this) {
          evals.add(new EvalEvent(step, epoch, valLoss, valAccuracy));
        }
        return true;
      }

      @Override
      public long droppedEvents() {
        return 0;
      }

      @Override
      public void retarget(ActorRef<RunCommand> run) {}

      @Override
      public CompletionStage<Done> complete() {
        return CompletableFuture.completedFuture(Done.getInstance());
      }
    };
  }

  /** The renderer the trainer registered last, if any. */
  public Optional<PayloadRenderer> payloadRenderer() {
    return Optional.ofNullable(renderer);
  }

  @Override
  public void payloads(PayloadRenderer renderer) {
    this.renderer = renderer;
  }

  @Override
  public float[] averageParameters(long round, float[] params) {
    synchronized (this) {
      averagingCalls.add(new AveragingCall(round, params.clone()));
    }
    return averager.apply(round, params);
  }

  @Override
  public synchronized void checkpointSaved(long step, Path checkpoint) {
    checkpoints.add(new Checkpoint(step, checkpoint));
  }
}
