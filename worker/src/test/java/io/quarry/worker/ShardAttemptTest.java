package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ParameterChunks;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.telemetry.TelemetryEmitter;
import io.quarry.worker.trainer.ShardResult;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.Done;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * A shard attempt on its own, without a worker actor: what its trainer's calls send to the run, how far it says the
 * trainer has come, and the averaging bridge, with probes standing in for the run and the worker.
 */
class ShardAttemptTest {
  private static final ActorTestKit testKit = ActorTestKit.create();
  private static final Duration QUIET = Duration.ofMillis(200);

  private final TestProbe<RunCommand> run = testKit.createTestProbe();
  private final TestProbe<WorkerCommand> worker = testKit.createTestProbe();
  private final RunHardExamples hardExamples =
      new RunHardExamples("r1", "w1", 4, false, new PayloadRendering.Limits(1 << 16, 100, 1 << 16), Runnable::run,
          io.quarry.protocol.FrameBudget.messageBytes(256 * 1024));

  @AfterAll
  static void shutDown() {
    testKit.shutdownTestKit();
  }

  /** Attempt 2 of shard 1 of 2 of run r1, resuming at {@code resumeStep}, in fast mode unless {@code telemetry}. */
  private ShardAttempt attempt(long resumeStep, TelemetryEmitter telemetry, String... overrides) {
    RunConfig config = RunConfig.fromOverrides(List.of(overrides), Map.of());
    ShardAssignment assignment = new ShardAssignment(1, 2, 2, 50, 50, "runs/r1/checkpoints/1/attempt-2",
        resumeStep == 0 ? null : "runs/r1/checkpoints/1/attempt-1/step-" + resumeStep, resumeStep);
    WorkerCommand.AssignShard assign =
        new WorkerCommand.AssignShard(3, new RunSpec("r1", config.toHocon()), assignment, run.getRef());
    // Where the attempt starts, as the worker found it (these tests' checkpoints need not exist on disk).
    List<ResumePoint> points = resumeStep == 0 ? List.of(ResumePoint.START)
        : List.of(new ResumePoint(java.nio.file.Path.of(assignment.resumeFrom()), resumeStep), ResumePoint.START);
    return new ShardAttempt(7, "w1", "cpu", worker.getRef(), config, assign, hardExamples, telemetry,
        Duration.ofMillis(100), points, null);
  }

  private ShardAttempt attempt(String... overrides) {
    return attempt(0, TelemetryEmitter.DISABLED, overrides);
  }

  private static RunCounters rejected(long count) {
    return RunCounters.ZERO.with(RunCounter.SAMPLES_REJECTED, count);
  }

  /** An attempt whose checkpoints go to {@code dir} (attempt 2 of shard 1), from the shard's start. */
  private ShardAttempt writingTo(Path dir) {
    RunConfig config = RunConfig.fromOverrides(List.of(), Map.of());
    ShardAssignment assignment = new ShardAssignment(1, 2, 2, 50, 50, dir.toString(), null, 0);
    WorkerCommand.AssignShard assign =
        new WorkerCommand.AssignShard(3, new RunSpec("r1", config.toHocon()), assignment, run.getRef());
    return new ShardAttempt(7, "w1", "cpu", worker.getRef(), config, assign, hardExamples, TelemetryEmitter.DISABLED,
        Duration.ofMillis(100), List.of(ResumePoint.START), null);
  }

  private static io.quarry.worker.checkpoint.CheckpointManifest manifest(long step) {
    return new io.quarry.worker.checkpoint.CheckpointManifest(step, 0, step, 1, Double.NaN, "stub", 0, Map.of());
  }

  @Test
  void aFencedAttemptWritesNoCheckpointReportsNoneAndEndsStopped(@org.junit.jupiter.api.io.TempDir Path dir)
      throws Exception {
    ShardAttempt attempt = writingTo(dir);
    attempt.renew(System.nanoTime(), Duration.ofSeconds(3).toNanos());
    attempt.checkpointStore().save(manifest(5), io.quarry.worker.checkpoint.CheckpointStore.FileWriter.NONE);
    assertTrue(java.nio.file.Files.isDirectory(dir.resolve("step-5")), "before the fence it writes");

    attempt.fence("lost the coordinator");
    assertTrue(attempt.stopRequested(), "the trainer is asked to stop");
    assertThrows(io.quarry.worker.checkpoint.CheckpointException.class, () -> attempt.checkpointStore()
        .save(manifest(10), io.quarry.worker.checkpoint.CheckpointStore.FileWriter.NONE));
    attempt.checkpointSaved(10, dir.resolve("step-10"));
    run.expectNoMessage(QUIET);
    try (var left = java.nio.file.Files.list(dir)) {
      assertEquals(List.of("last", "step-5"), left.map(p -> p.getFileName().toString()).sorted().toList(),
          "no step-10, no temporary directory left behind");
    }
    // The trainer failed its save; the worker stopped it: that is what the run hears.
    RunCommand.ShardReport report = attempt.finalReport(
        new TrainerRunner.Outcome(7, null, new io.quarry.worker.checkpoint.CheckpointException("not written")),
        RunCounters.ZERO);
    assertTrue(report instanceof RunCommand.ShardStopped, report.toString());
  }

  @Test
  void aTrainingThreadThatWakesFromALongPauseWritesNothingBeforeTheWorkerHasCheckedIn(
      @org.junit.jupiter.api.io.TempDir Path dir) {
    ShardAttempt attempt = writingTo(dir);
    // The worker last checked in 10 s ago: the JVM was stopped (SIGSTOP, a pause) far longer than max-pause.
    attempt.renew(System.nanoTime() - Duration.ofSeconds(10).toNanos(), Duration.ofSeconds(3).toNanos());
    assertFalse(attempt.writesAllowed());
    assertThrows(io.quarry.worker.checkpoint.CheckpointException.class, () -> attempt.checkpointStore()
        .save(manifest(5), io.quarry.worker.checkpoint.CheckpointStore.FileWriter.NONE));
    assertFalse(java.nio.file.Files.exists(dir.resolve("step-5")));
    attempt.renew(System.nanoTime(), Duration.ofSeconds(3).toNanos());
    assertTrue(attempt.writesAllowed(), "once the worker has checked in (and not fenced it), it writes again");
  }

  @Test
  void anAttemptWithoutItsCoordinatorLeaseWaitsAtItsCheckpointUntilAnAnswerComes(
      @org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    ShardAttempt attempt = writingTo(dir);
    long leaseNs = Duration.ofSeconds(2).toNanos();
    attempt.renew(System.nanoTime(), Duration.ofSeconds(30).toNanos());
    // The newest probe the coordinator's node answered was sent 3 s ago: the lease ran out 1 s ago.
    attempt.lease(leaseNs, System.nanoTime() - Duration.ofSeconds(3).toNanos());
    assertTrue(attempt.leaseLapsedNs(System.nanoTime()) >= Duration.ofSeconds(1).toNanos());
    java.util.concurrent.CompletableFuture<Path> save = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
      try {
        return attempt.checkpointStore().save(manifest(5), io.quarry.worker.checkpoint.CheckpointStore.FileWriter.NONE);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    Thread.sleep(300);
    assertFalse(save.isDone(), "no commit without the lease");
    try (var entries = java.nio.file.Files.list(dir)) {
      assertEquals(0, entries.count(), "not even a temporary directory");
    }
    attempt.lease(leaseNs, System.nanoTime()); // an answer to a probe sent now
    assertEquals(dir.resolve("step-5"), save.get(5, java.util.concurrent.TimeUnit.SECONDS));
    assertEquals(0, attempt.leaseLapsedNs(System.nanoTime()));
  }

  @Test
  void anAttemptWaitingForItsLeaseWritesNothingOnceFenced(@org.junit.jupiter.api.io.TempDir Path dir)
      throws Exception {
    ShardAttempt attempt = writingTo(dir);
    attempt.renew(System.nanoTime(), Duration.ofSeconds(30).toNanos());
    attempt.lease(Duration.ofSeconds(2).toNanos(), null); // no probe answered yet: no lease
    java.util.concurrent.CompletableFuture<Void> save = java.util.concurrent.CompletableFuture.runAsync(() -> {
      try {
        attempt.checkpointStore().save(manifest(5), io.quarry.worker.checkpoint.CheckpointStore.FileWriter.NONE);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    Thread.sleep(200);
    assertFalse(save.isDone());
    attempt.fence("lost the coordinator: its node is unreachable");
    java.util.concurrent.ExecutionException refused = assertThrows(java.util.concurrent.ExecutionException.class,
        () -> save.get(5, java.util.concurrent.TimeUnit.SECONDS));
    assertTrue(refused.getCause() instanceof io.quarry.worker.checkpoint.CheckpointException, refused.toString());
    assertFalse(java.nio.file.Files.exists(dir.resolve("step-5")));
  }

  @Test
  void anAttemptWhoseCoordinatorIsInTheSameJvmNeedsNoLease(@org.junit.jupiter.api.io.TempDir Path dir)
      throws Exception {
    ShardAttempt attempt = writingTo(dir);
    attempt.lease(0, null);
    attempt.checkpointStore().save(manifest(5), io.quarry.worker.checkpoint.CheckpointStore.FileWriter.NONE);
    assertTrue(java.nio.file.Files.isDirectory(dir.resolve("step-5")));
  }

  @Test
  void reportsTheStepSamplesAndLossItsTrainerReachedEvenInFastMode() {
    ShardAttempt attempt = attempt();
    attempt.offer(new long[] {50, 51, 52}, new float[] {1f, 2f, 3f}, 3, 0);
    attempt.telemetry().step(0, 0, 2.5f, 0.1f, 100f);
    attempt.offer(new long[] {53, 54}, new float[] {1f, 2f}, 2, 1);

    attempt.reportProgress(rejected(0));

    RunCommand.ShardProgressed progressed = run.expectMessageClass(RunCommand.ShardProgressed.class);
    assertEquals(List.of("r1", 1, 2, "w1"),
        List.of(progressed.runId(), progressed.shard(), progressed.attempt(), progressed.workerId()));
    assertEquals(2, progressed.step(), "two steps done: offers name the index of their step");
    assertEquals(5, progressed.samples());
    assertEquals(2.5f, progressed.loss(), "the last step loss the trainer reported");
    assertEquals(rejected(0), progressed.counters());
  }

  @Test
  void reportsProgressOnlyWhenSomethingChanged() {
    ShardAttempt attempt = attempt();
    attempt.reportProgress(RunCounters.ZERO);
    run.expectNoMessage(QUIET); // nothing since the start

    attempt.offer(new long[] {50}, new float[] {1f}, 1, 0);
    attempt.reportProgress(RunCounters.ZERO);
    assertEquals(1, run.expectMessageClass(RunCommand.ShardProgressed.class).samples());
    attempt.reportProgress(RunCounters.ZERO);
    run.expectNoMessage(QUIET);

    attempt.reportProgress(rejected(1));
    assertEquals(rejected(1), run.expectMessageClass(RunCommand.ShardProgressed.class).counters(),
        "a counter that moved is a change");
  }

  @Test
  void startsFromTheStepItResumesFrom() {
    ShardAttempt attempt = attempt(40, TelemetryEmitter.DISABLED);
    attempt.reportStarted();
    assertEquals(40, run.expectMessageClass(RunCommand.ShardStarted.class).startStep());
    attempt.reportProgress(RunCounters.ZERO);
    run.expectNoMessage(QUIET);

    attempt.telemetry().epoch(44, 1, 1.5f);
    attempt.reportProgress(RunCounters.ZERO);
    RunCommand.ShardProgressed progressed = run.expectMessageClass(RunCommand.ShardProgressed.class);
    assertEquals(45, progressed.step());
    assertEquals(0, progressed.samples());
    assertTrue(Float.isNaN(progressed.loss()), "no step loss reported yet");
  }

  @Test
  void aCheckpointIsReportedAndSentAgainToTheRunThatAdoptsTheAttempt() {
    RecordingEmitter telemetry = new RecordingEmitter();
    ShardAttempt attempt = attempt(0, telemetry);
    attempt.checkpointSaved(10, Path.of("runs/r1/checkpoints/1/attempt-2/step-10"));
    RunCommand.ShardCheckpointed checkpointed = run.expectMessageClass(RunCommand.ShardCheckpointed.class);
    assertEquals(10, checkpointed.step());
    attempt.reportProgress(RunCounters.ZERO);
    assertEquals(10, run.expectMessageClass(RunCommand.ShardProgressed.class).step());

    TestProbe<RunCommand> recovered = testKit.createTestProbe();
    attempt.adoptedBy(recovered.getRef(), 2);

    assertEquals(checkpointed, recovered.expectMessageClass(RunCommand.ShardCheckpointed.class));
    assertEquals(List.of(recovered.getRef()), telemetry.retargets, "its telemetry follows");
    attempt.reportProgress(RunCounters.ZERO);
    assertEquals(10, recovered.expectMessageClass(RunCommand.ShardProgressed.class).step(),
        "the new run hears the progress though nothing changed");
    attempt.report(attempt.finalReport(new TrainerRunner.Outcome(7, new ShardResult(12, 2, 100, 0.5f, false), null),
        RunCounters.ZERO));
    recovered.expectMessageClass(RunCommand.ShardCompleted.class);
    run.expectNoMessage(QUIET);
  }

  @Test
  void telemetryGoesToTheEmitterAndItsLifecycleIsTheEmitters() throws Exception {
    RecordingEmitter telemetry = new RecordingEmitter();
    telemetry.dropped = 3;
    ShardAttempt attempt = attempt(0, telemetry);
    assertTrue(attempt.telemetry().step(4, 0, 1f, 0.1f, 10f));
    attempt.telemetry().eval(4, 0, 0.5f, 0.9f);
    assertEquals(List.of("step 4", "eval 4"), telemetry.events);
    assertEquals(3, attempt.telemetryDropped());

    attempt.endTelemetry(Duration.ofSeconds(5)).toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertTrue(telemetry.completed);
  }

  @Test
  void offersGoToTheRunsTrackerAndCountAsTheAttemptsSamples() {
    ShardAttempt attempt = attempt();
    attempt.hardExamples().offer(new long[] {50, 51}, new float[] {3f, Float.NaN}, 2, 0);

    assertEquals(1, hardExamples.snapshot(0).samplesSeen());
    assertEquals(1, hardExamples.counters(0).get(RunCounter.NONFINITE_LOSSES));
    RunCommand.ShardFailed failed = (RunCommand.ShardFailed) attempt.finalReport(
        new TrainerRunner.Outcome(7, null, new IllegalStateException("boom")), RunCounters.ZERO);
    assertEquals("boom", failed.reason());
    assertEquals(1, failed.stepsTrained(), "a failed attempt reports the steps it offered");
    assertEquals(2, failed.samplesTrained());
  }

  @Test
  void aStoppedTrainerIsReportedStoppedWithItsResult() {
    ShardAttempt attempt = attempt();
    attempt.requestStop();
    assertTrue(attempt.stopRequested());
    RunCommand.ShardReport report = attempt.finalReport(
        new TrainerRunner.Outcome(7, new ShardResult(8, 8, 80, 1f, true), null), rejected(2));
    assertEquals(new RunCommand.ShardStopped("r1", 1, 2, "w1", 8, 8, 80, rejected(2)), report);
  }

  /** Runs {@code averageParameters} on a thread of its own, as the trainer would. */
  private static CompletableFuture<float[]> average(ShardAttempt attempt, long round, float[] params) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return attempt.averageParameters(round, params);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
  }

  private static float[] vector(int length, int seed) {
    float[] vector = new float[length];
    for (int i = 0; i < length; i++) vector[i] = seed * 1000 + i;
    return vector;
  }

  @Test
  void sendsItsParametersInChunksAndReturnsTheAverageAssembledFromTheRunsChunks() throws Exception {
    ShardAttempt attempt = attempt("sync.mode=average", "sync.transport=coordinator", "sync.timeout=1h");
    int length = ParameterChunks.FLOATS_PER_CHUNK + 5;
    float[] params = vector(length, 1);
    CompletableFuture<float[]> returned = average(attempt, 4, params);

    float[][] expected = ParameterChunks.cut(params);
    for (int chunk = 0; chunk < 2; chunk++) {
      RunCommand.SyncChunk sent = run.expectMessageClass(RunCommand.SyncChunk.class);
      assertEquals(List.of(4L, chunk, 2, length),
          List.of(sent.round(), sent.chunk(), sent.chunks(), sent.totalLength()));
      assertArrayEquals(expected[chunk], sent.values());
      assertEquals(worker.getRef(), sent.replyTo());
    }
    float[] average = vector(length, 9);
    float[][] averageChunks = ParameterChunks.cut(average);
    for (int chunk = 1; chunk >= 0; chunk--) { // another round's average: not the one the trainer waits for
      attempt.averaged(new WorkerCommand.AveragedChunk(3, "r1", 1, 2, 3, 2, chunk, 2, length, vector(length, 5)));
    }
    assertFalse(returned.isDone());
    for (int chunk = 1; chunk >= 0; chunk--) {
      attempt.averaged(new WorkerCommand.AveragedChunk(3, "r1", 1, 2, 4, 2, chunk, 2, length, averageChunks[chunk]));
    }

    assertArrayEquals(average, returned.get(10, TimeUnit.SECONDS));
    assertArrayEquals(vector(length, 1), params, "the trainer's array is left as it was");
  }

  @Test
  void aStopEndsTheWaitForAnAverage() throws Exception {
    ShardAttempt attempt = attempt("sync.mode=average", "sync.transport=coordinator", "sync.timeout=1h");
    float[] params = vector(10, 1);
    CompletableFuture<float[]> returned = average(attempt, 0, params);
    run.expectMessageClass(RunCommand.SyncChunk.class);

    attempt.requestStop();

    assertSame(params, returned.get(10, TimeUnit.SECONDS));
  }

  @Test
  void aRefusedRoundFailsTheTrainerWithTheRunsReason() {
    ShardAttempt attempt = attempt("sync.mode=average", "sync.transport=coordinator", "sync.timeout=1h");
    CompletableFuture<float[]> returned = average(attempt, 2, vector(10, 1));
    run.expectMessageClass(RunCommand.SyncChunk.class);

    attempt.averagingFailed(
        new WorkerCommand.AveragingFailed(3, "r1", 1, 2, 2, "10 parameters, the round has 12", true));

    ExecutionException thrown = assertThrows(ExecutionException.class, () -> returned.get(10, TimeUnit.SECONDS));
    assertEquals("parameter averaging, round 2: 10 parameters, the round has 12", thrown.getCause().getMessage());
  }

  @Test
  void withoutAveragingOrWithOneShardTheParametersComeBackAtOnce() throws Exception {
    float[] params = vector(10, 1);
    assertSame(params, attempt("sync.mode=none").averageParameters(0, params));
    run.expectNoMessage(QUIET);
  }

  /** An emitter that records what reaches it. */
  private static final class RecordingEmitter implements TelemetryEmitter {
    final List<String> events = new ArrayList<>();
    final List<ActorRef<RunCommand>> retargets = new ArrayList<>();
    long dropped;
    boolean completed;

    @Override
    public boolean step(long step, int epoch, float loss, float lr, float samplesPerSec) {
      events.add("step " + step);
      return true;
    }

    @Override
    public boolean epoch(long step, int epoch, float meanLoss) {
      events.add("epoch " + step);
      return true;
    }

    @Override
    public boolean eval(long step, int epoch, float valLoss, float valAccuracy) {
      events.add("eval " + step);
      return true;
    }

    @Override
    public long droppedEvents() {
      return dropped;
    }

    @Override
    public void retarget(ActorRef<RunCommand> run) {
      retargets.add(run);
    }

    @Override
    public CompletionStage<Done> complete() {
      completed = true;
      return CompletableFuture.completedFuture(Done.getInstance());
    }
  }
}
