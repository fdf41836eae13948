package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.ParameterChunks;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerFactory;
import io.quarry.worker.trainer.TrainerRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The worker's side of parameter averaging against probes: the trainer's vector goes to the run in chunks, the
 * average's chunks come back into the blocked trainer; no answer, a refusal and a stop each end the wait.
 */
class WorkerAveragingTest {
  private static final ActorTestKit testKit = ActorTestKit.create(ConfigFactory.parseString(
      "pekko.actor.serialize-messages = on\nquarry.worker.sync-wait-margin = 200ms\nquarry.worker.host-report-interval = 0s")
      .withFallback(ConfigFactory.load()));
  private static final int LENGTH = ParameterChunks.FLOATS_PER_CHUNK + 3;
  private static final long ROUND = 3;

  @TempDir Path checkpoints;

  private final TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
  private final TestProbe<RunCommand> run = testKit.createTestProbe();
  private final float[] params = vector(1);
  /** What averageParameters returned to the trainer. */
  private final CompletableFuture<float[]> returned = new CompletableFuture<>();

  @AfterAll
  static void shutDown() {
    testKit.shutdownTestKit();
  }

  private static float[] vector(int seed) {
    float[] vector = new float[LENGTH];
    for (int i = 0; i < LENGTH; i++) vector[i] = seed * 1000 + i * 0.5f;
    return vector;
  }

  /** A worker whose trainer (standing in as {@code stub}, a name the run config accepts) averages once. */
  private ActorRef<WorkerCommand> worker(String workerId, String... overrides) {
    Trainer trainer = context -> {
      float[] averaged = context.averageParameters(ROUND, params);
      returned.complete(averaged);
      return new ShardResult(1, 1, 1, 0f, context.stopRequested());
    };
    TrainerFactory factory = new TrainerFactory() {
      @Override
      public String name() {
        return "stub";
      }

      @Override
      public Trainer create(RunConfig config) {
        return trainer;
      }
    };
    ActorRef<WorkerCommand> worker = testKit.spawn(
        Worker.create(workerId, "cpu", TrainerRegistry.of(factory), Clock.systemUTC()));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(5, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    List<String> all = new java.util.ArrayList<>(List.of("telemetry.enabled=false"));
    all.addAll(List.of(overrides));
    RunConfig config = RunConfig.fromOverrides(all, Map.of());
    ShardAssignment assignment = new ShardAssignment(1, 2, 2, 0, 100, checkpoints.toString(), null, 0);
    worker.tell(new WorkerCommand.AssignShard(5, new RunSpec("r1", config.toHocon()), assignment, run.getRef()));
    run.expectMessageClass(RunCommand.ShardStarted.class);
    return worker;
  }

  private List<RunCommand.SyncChunk> receiveChunks() {
    RunCommand.SyncChunk first = run.expectMessageClass(RunCommand.SyncChunk.class);
    RunCommand.SyncChunk second = run.expectMessageClass(RunCommand.SyncChunk.class);
    return List.of(first, second);
  }

  private static WorkerCommand.AveragedChunk averaged(long incarnation, long round, int attempt, float[] average,
      int chunk) {
    int start = ParameterChunks.start(chunk);
    return new WorkerCommand.AveragedChunk(incarnation, "r1", 1, attempt, round, 2, chunk, 2, LENGTH,
        Arrays.copyOfRange(average, start, start + ParameterChunks.length(LENGTH, chunk)));
  }

  @Test
  void sendsItsParametersInChunksAndContinuesFromTheAverage() throws Exception {
    ActorRef<WorkerCommand> worker = worker("w-average", "sync.mode=average", "sync.transport=coordinator");

    List<RunCommand.SyncChunk> chunks = receiveChunks();
    for (int i = 0; i < 2; i++) {
      RunCommand.SyncChunk chunk = chunks.get(i);
      assertEquals(List.of("r1", 1, 2, "w-average", ROUND, i, 2, LENGTH), List.of(chunk.runId(), chunk.shard(),
          chunk.attempt(), chunk.workerId(), chunk.round(), chunk.chunk(), chunk.chunks(), chunk.totalLength()));
      assertEquals(worker, chunk.replyTo());
    }
    float[] sent = new float[LENGTH];
    System.arraycopy(chunks.get(0).values(), 0, sent, 0, ParameterChunks.FLOATS_PER_CHUNK);
    System.arraycopy(chunks.get(1).values(), 0, sent, ParameterChunks.FLOATS_PER_CHUNK, 3);
    assertArrayEquals(params, sent);

    float[] average = vector(7);
    worker.tell(averaged(4, ROUND, 2, vector(9), 0)); // a stale coordinator incarnation
    worker.tell(averaged(5, ROUND + 1, 2, vector(9), 0)); // another round
    worker.tell(averaged(5, ROUND, 1, vector(9), 0)); // another attempt
    worker.tell(averaged(5, ROUND, 2, average, 1));
    worker.tell(averaged(5, ROUND, 2, average, 0));

    assertArrayEquals(average, returned.get(10, TimeUnit.SECONDS));
    assertArrayEquals(vector(1), params, "the trainer's own array is left as it was");
    run.expectMessageClass(RunCommand.ShardCompleted.class);
  }

  @Test
  void goesOnFromItsOwnParametersWhenNoAverageArrivesInTime() throws Exception {
    worker("w-no-answer", "sync.mode=average", "sync.transport=coordinator", "sync.timeout=50ms");
    receiveChunks();
    long startNs = System.nanoTime();

    assertSame(params, returned.get(10, TimeUnit.SECONDS));

    long waitedMs = (System.nanoTime() - startNs) / 1_000_000;
    assertTrue(waitedMs >= 250 && waitedMs < 5_000, "2 x sync.timeout + sync-wait-margin, about 300 ms: " + waitedMs);
    run.expectMessageClass(RunCommand.ShardCompleted.class);
  }

  @Test
  void aRoundWithoutAnAverageLetsTheTrainerGoOnAtOnce() throws Exception {
    ActorRef<WorkerCommand> worker = worker("w-no-average", "sync.mode=average", "sync.transport=coordinator");
    receiveChunks();

    worker.tell(new WorkerCommand.AveragingFailed(5, "r1", 1, 2, ROUND, "round 3 timed out", false));

    assertSame(params, returned.get(5, TimeUnit.SECONDS));
    run.expectMessageClass(RunCommand.ShardCompleted.class);
  }

  @Test
  void aRefusalFailsTheAttemptWithTheRunsReason() {
    ActorRef<WorkerCommand> worker = worker("w-refused", "sync.mode=average", "sync.transport=coordinator");
    receiveChunks();

    worker.tell(new WorkerCommand.AveragingFailed(5, "r1", 1, 2, ROUND,
        "shard 1 sent 32771 parameters for round 3, but the round's first shard sent 10", true));

    RunCommand.ShardFailed failed = run.expectMessageClass(RunCommand.ShardFailed.class, Duration.ofSeconds(10));
    assertTrue(failed.reason().startsWith("parameter averaging, round 3: shard 1 sent 32771 parameters"), failed.reason());
    assertFalse(returned.isDone());
  }

  @Test
  void aStopEndsTheWait() throws Exception {
    ActorRef<WorkerCommand> worker = worker("w-stopped", "sync.mode=average", "sync.transport=coordinator", "sync.timeout=1h");
    receiveChunks();

    worker.tell(new WorkerCommand.StopShard(5, "r1", 1, "run stopped"));

    assertSame(params, returned.get(5, TimeUnit.SECONDS));
    run.expectMessageClass(RunCommand.ShardStopped.class);
  }

  @Test
  void withoutAveragingTheParametersComeBackAtOnceAndNothingIsSent() throws Exception {
    worker("w-none", "sync.mode=none");

    assertSame(params, returned.get(5, TimeUnit.SECONDS));
    run.expectMessageClass(RunCommand.ShardCompleted.class);
  }
}
