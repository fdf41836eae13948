package io.quarry.protocol.serialization;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.typesafe.config.ConfigFactory;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.HardExampleSnapshotPart;
import io.quarry.protocol.QuarryMessage;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.TelemetryEvent;
import io.quarry.protocol.WorkerCommand;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class QuarryKryoSerializerTest {
  private static ActorTestKit testKit;
  private static Serialization serialization;
  private static QuarryKryoSerializer serializer;

  /** Refs from probes, one per message type they are typed with. */
  private static ActorRef<WorkerCommand> workerRef;
  private static ActorRef<CoordinatorCommand> coordinatorRef;
  private static ActorRef<RunCommand> runRef;
  private static ActorRef<HardExampleSnapshotPart> snapshotRef;
  private static ActorRef<RunCommand.TelemetryAck> ackRef;
  private static ActorRef<CoordinatorCommand.SubmitReply> submitReplyRef;
  private static ActorRef<CoordinatorCommand.StopReply> stopReplyRef;
  private static ActorRef<CoordinatorCommand.WorkersReply> workersReplyRef;
  private static ActorRef<CoordinatorCommand.RunStatusReply> runStatusRef;
  private static ActorRef<CoordinatorCommand.RunsReply> runsRef;
  private static ActorRef<WorkerCommand.RunSized> sizedRef;
  private static ActorRef<CoordinatorCommand.ResumeReply> resumeReplyRef;

  private static final RunCounters COUNTERS = RunCounters.ZERO.add(RunCounter.SAMPLES_REJECTED, 12)
      .add(RunCounter.TELEMETRY_DROPPED, 3).add(RunCounter.MERGE_GATHER_MS_MAX, 42);

  private static io.quarry.protocol.RunStatus runStatus() {
    return new io.quarry.protocol.RunStatus("run-1", "demo", RunState.RUNNING, 1L, 2L, 0L, 10L, 100L, 1.5f, 99.5,
        0L, 2, "", List.of(new io.quarry.protocol.RunStatus.ShardStatus(0, io.quarry.protocol.ShardState.RUNNING,
            2, 1, "w0", 10L, 50L, 5L, "boom", true, "w1"), new io.quarry.protocol.RunStatus.ShardStatus(1,
            io.quarry.protocol.ShardState.PENDING, 1, 0, null, 0L, 50L, 0L, "", false, null)), List.of("w0"), "runs/run-1",
        List.of(new io.quarry.protocol.HardExample(7L, 9.5f, "w0", 3L)), COUNTERS,
        "2 of 9 merges left workers out; the last, merge 8: w1: lost: node unreachable",
        metricsSnapshot());
  }

  private static io.quarry.protocol.RunMetricsSnapshot metricsSnapshot() {
    return new io.quarry.protocol.RunMetricsSnapshot(
        List.of(new io.quarry.protocol.RunMetricsSnapshot.WorkerTotals("w0", 120L, 3_840L),
            new io.quarry.protocol.RunMetricsSnapshot.WorkerTotals("w1", 0L, 0L)),
        new io.quarry.protocol.RunMetricsSnapshot.Histogram(new double[] {0.01, 0.1, Double.POSITIVE_INFINITY},
            new long[] {3, 100, 2}, 9.75),
        io.quarry.protocol.RunMetricsSnapshot.Histogram.EMPTY, 64);
  }

  private static ActorRef<RunUpdate> updateRef;

  /** A message that implements the marker but was never registered. */
  record UnregisteredMessage(String payload) implements QuarryMessage {}

  @BeforeAll
  static void startSystem() {
    testKit = ActorTestKit.create(
        "QuarryKryoSerializerTest",
        ConfigFactory.parseString("pekko.actor.serialize-messages = on").withFallback(ConfigFactory.load()));
    serialization = SerializationExtension.get(Adapter.toClassic(testKit.system()));
    serializer = (QuarryKryoSerializer) serialization.findSerializerFor(new RunSpec("r", ""));
    workerRef = testKit.<WorkerCommand>createTestProbe().getRef();
    coordinatorRef = testKit.<CoordinatorCommand>createTestProbe().getRef();
    runRef = testKit.<RunCommand>createTestProbe().getRef();
    snapshotRef = testKit.<HardExampleSnapshotPart>createTestProbe().getRef();
    ackRef = testKit.<RunCommand.TelemetryAck>createTestProbe().getRef();
    submitReplyRef = testKit.<CoordinatorCommand.SubmitReply>createTestProbe().getRef();
    stopReplyRef = testKit.<CoordinatorCommand.StopReply>createTestProbe().getRef();
    workersReplyRef = testKit.<CoordinatorCommand.WorkersReply>createTestProbe().getRef();
    runStatusRef = testKit.<CoordinatorCommand.RunStatusReply>createTestProbe().getRef();
    runsRef = testKit.<CoordinatorCommand.RunsReply>createTestProbe().getRef();
    sizedRef = testKit.<WorkerCommand.RunSized>createTestProbe().getRef();
    resumeReplyRef = testKit.<CoordinatorCommand.ResumeReply>createTestProbe().getRef();
    updateRef = testKit.<RunUpdate>createTestProbe().getRef();
  }

  @AfterAll
  static void stopSystem() {
    testKit.shutdownTestKit();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Representative instances

  private static List<HardExample> hardExamples() {
    return List.of(
        new HardExample(17L, 9.5f, "host:2552/cpu-0", 120L, 3, 8),
        new HardExample(4_000_000_000L, 3.25f, "host:2553/gpu:0", 0L, 0, HardExample.UNKNOWN),
        new HardExample(0L, Float.NaN, "", Long.MAX_VALUE));
  }

  private static RunSummary summary() {
    return new RunSummary(
        "run-1", RunState.FAILED, "shard 2 failed 3 times", 1_000L, 12L, 32_000L, 65_000L, 4L, 7, hardExamples(), "runs/run-1", 0.25, 0.9, COUNTERS, "");
  }

  /** Entries of one worker, as a snapshot or a share of a merged buffer holds them. */
  private static List<HardExample> ownExamples() {
    return List.of(
        new HardExample(17L, 9.5f, "host:2552/cpu-0", 120L, 3, 8),
        new HardExample(4_000_000_000L, 3.25f, "host:2552/cpu-0", 0L, 0, HardExample.UNKNOWN),
        new HardExample(0L, Float.NaN, "host:2552/cpu-0", Long.MAX_VALUE),
        new HardExample(Long.MAX_VALUE, -0f, "host:2552/cpu-0", 3L, Integer.MAX_VALUE, Integer.MAX_VALUE));
  }

  private static HardExampleSnapshotPart snapshotPart() {
    return new HardExampleSnapshotPart("run-1", 3, "host:2552/cpu-0", 1, 4, 5_000L, 612L, 9.5f, 9,
        new byte[] {1, 2, 3, -128, 127, 0}, ownExamples());
  }

  private static io.quarry.protocol.HostLoad hostLoad() {
    return new io.quarry.protocol.HostLoad("gpu-1", 0.625, 12L << 30, 64L << 30,
        List.of(new io.quarry.protocol.HostLoad.Gpu(0, "NVIDIA H200", 97, 70_000, 143_771)), 1_796_000_000_000L);
  }

  /** One instance of every registered {@link QuarryMessage}, keyed by its class. */
  private static Map<Class<?>, Object> samples() {
    RunSpec spec = new RunSpec("run-1", "epochs = 3\nhard-examples.k = 64\nname = \"ünïcødé ✓\"\n");
    Map<Class<?>, Object> samples = new LinkedHashMap<>();
    List<Object> all = List.of(
        spec,
        new RunSpec(null, ""),
        new ShardAssignment(2, 4, 1, 5_000L, 2_500L, "runs/run-1/checkpoints/2", null, 0),
        new ShardAssignment(2, 4, 2, 5_000L, 2_500L, "runs/run-1/checkpoints/2", "runs/run-1/checkpoints/2/step-50", 50),
        new ShardAssignment(1, 2, 3, 500L, 500L, "runs/run-1/checkpoints/1", "runs/run-1/checkpoints/0/step-50", 50,
            new io.quarry.protocol.DistributedRank(1, 2, 1, 2, 0, 1, "10.0.0.7", 29_500, 2, 2)),
        new io.quarry.protocol.DistributedRank(0, 4, 0, 2, 0, 2, "host-a", 0, 0, 0),
        new RunCommand.RankEndpoint("run-1", 0, 3, "host:2552/cpu-0", "127.0.0.1", 41_234),
        hardExamples().get(0),
        snapshotPart(),
        new HardExampleSnapshotPart("r", 0, "w", 0, 1, 0L, 0L, Float.NaN, 0, new byte[0], List.of()),
        new WorkerCommand.SnapshotCredit(7L, "run-1", 3, 48),
        new RunCommand.MergedCredit("run-1", 3, "host:2552/cpu-0", 48),
        summary(),
        new WorkerCommand.CoordinatorAnnounced(7L, coordinatorRef),
        new WorkerCommand.AssignShard(
            7L, spec, new ShardAssignment(0, 1, 1, 0L, 100L, "runs/run-1/checkpoints/0", null, 0), runRef),
        new WorkerCommand.StopShard(7L, "run-1", 2, "run stopped"),
        new WorkerCommand.CollectHardExamples(7L, "run-1", 3, snapshotRef),
        new WorkerCommand.MergedHardExamples(7L, "run-1", 3, 2.75, "host:2552/cpu-0", 1, 3, 70, ownExamples(), runRef),
        new WorkerCommand.MergedHardExamples(7L, "run-1", 3, Double.NaN, "w", 0, 1, 0, List.of(), runRef),
        new HardExamplePayload.Png(17L, 3, 8, new byte[] {(byte) 0x89, 'P', 'N', 'G'}),
        new HardExamplePayload.Features(4_000_000_000L, 0, HardExample.UNKNOWN, new float[] {1.5f, Float.NaN, -0f}),
        new RunCommand.HardExamplePayloads("run-1", 3, "host:2552/cpu-0", List.of(
            new HardExamplePayload.Png(17L, 3, 8, new byte[] {1, 2, 3}),
            new HardExamplePayload.Features(18L, -1, -1, new float[0])), 1, true),
        new RunCommand.HardExamplePayloads("run-1", 4, "w", List.of(), 0, false),
        new WorkerCommand.ReleaseRun(7L, "run-1"),
        new RunCommand.ShardStarted("run-1", 2, 1, "w", 0L),
        new RunCommand.ShardStarted("run-1", 2, 2, "w", 50L, "runs/run-1/checkpoints/2/attempt-1/step-50"),
        new RunCommand.CheckpointUnusable("run-1", 2, 2, "w", "runs/run-1/checkpoints/2/attempt-1/step-60",
            "it has no manifest.json"),
        new RunCommand.ShardCheckpointed("run-1", 2, 1, "w", 50L, "runs/run-1/checkpoints/2/step-50"),
        new RunCommand.ShardCompleted("run-1", 2, 1, "w", 300L, 310L, 9_920L, COUNTERS, 0.125f, 0.5f, 0.875f),
        new RunCommand.ShardFailed("run-1", 2, 1, "w", "java.lang.IllegalStateException: injected", 40L, 1_280L,
            RunCounters.ZERO),
        new RunCommand.ShardStopped("run-1", 2, 1, "w", 77L, 77L, 2_464L, COUNTERS),
        new RunCommand.ShardProgressed("run-1", 2, 1, "w", 120L, 3_840L, 0.5f, COUNTERS),
        new RunCommand.ShardProgressed("run-1", 2, 1, "w", 0L, 0L, Float.NaN, RunCounters.ZERO),
        COUNTERS,
        new io.quarry.protocol.WorkerAllowance(false, List.of("/usr/bin/python3", "/opt/train/"), List.of("/data")),
        io.quarry.protocol.WorkerAllowance.NOTHING,
        new WorkerCommand.SizeRun(7L, spec, sizedRef),
        new WorkerCommand.RunSized("run-1", 1_438L, "", "h:1/cpu-0"),
        new WorkerCommand.RunSized("run-1", -1L, "config key 'dataset.path': data/x.csv does not exist", "w"),
        new RunCommand.TelemetryBatch(
            "run-1", "w", 2, 1, 0L,
            List.of(
                new TelemetryEvent.Step(1_700_000_000_000_000_000L, 2, 10L, 0, 1.5f, 0.01f, 3_200f),
                new TelemetryEvent.Epoch(1_700_000_000_100_000_000L, 2, 100L, 0, 1.25f),
                new TelemetryEvent.Eval(1_700_000_000_200_000_000L, 2, 100L, 0, 1.3f, 0.61f)),
            ackRef),
        new RunCommand.TelemetryBatch("run-1", "w", 2, 1, 0L, List.of(), ackRef),
        RunCommand.TelemetryAck.INSTANCE,
        new TelemetryEvent.Step(1L, 0, 1L, 0, Float.NaN, 0.01f, Float.POSITIVE_INFINITY),
        new TelemetryEvent.Epoch(2L, 1, 2L, 3, 0.5f),
        new TelemetryEvent.Eval(3L, 1, 2L, 3, 0.6f, 0.9f),
        new CoordinatorCommand.RequestWork(7L, "host:2552/cpu-0", "cpu", workerRef),
        new CoordinatorCommand.SubmitRun(new RunSpec(null, "epochs = 1"), submitReplyRef),
        new CoordinatorCommand.StopRun("run-1", "user asked", stopReplyRef),
        new CoordinatorCommand.WatchRun("run-1", updateRef),
        new CoordinatorCommand.SubmitReply.Accepted("run-1", "runs/run-1"),
        new CoordinatorCommand.SubmitReply.Rejected("config key 'epochs': invalid value 0; allowed: ..."),
        new CoordinatorCommand.StopReply("run-1", false, "no such run"),
        new RunUpdate.Progressed("run-1", RunState.RUNNING, 10L, 1_000L, Float.NaN, 1234.5, 999L),
        new RunUpdate.Finished("run-1", summary()),
        new RunUpdate.UnknownRun("run-404"),
        new CoordinatorCommand.GetWorkers(workersReplyRef),
        new CoordinatorCommand.WorkerInfo(null, null, io.quarry.protocol.WorkerState.UP, null),
        new CoordinatorCommand.GetRun("run-1", runStatusRef),
        new WorkerCommand.AdoptShard(9L, "run-1", 2, 3, runRef),
        new CoordinatorCommand.ShardInProgress(9L, "h:1/cpu-0", "cpu", workerRef, "run-1", 2, 3,
            io.quarry.protocol.WorkerAllowance.NOTHING),
        new CoordinatorCommand.RequestWork(7L, "host:2552/cpu-1", "cpu", workerRef,
            new io.quarry.protocol.WorkerAllowance(true, List.of(), List.of("/data"))),
        new RunCommand.ShardRefused("run-1", 0, 1, "w", "program '/bin/sh' is not allowed on this worker"),
        new CoordinatorCommand.SubmitReply.Rejected("the queue is full", CoordinatorCommand.SubmitReply.Why.FULL),
        new CoordinatorCommand.Redeliver(9L, new RunCommand.ShardCompleted("run-1", 2, 3, "h:1/cpu-0", 50L, 20L, 640L,
            RunCounters.ZERO, 1.25f, Float.NaN, Float.NaN)),
        new CoordinatorCommand.RunStatusReply("run-404", null),
        new RunCommand.SyncChunk("run-1", 2, 3, "h:1/cpu-0", 40L, 1, 3, 70_000,
            new float[] {1.5f, -0f, Float.NaN, Float.MAX_VALUE, Float.MIN_VALUE}, workerRef),
        new WorkerCommand.AveragedChunk(9L, "run-1", 2, 3, 40L, 4, 1, 3, 70_000, new float[] {0.25f, -7f}),
        new WorkerCommand.AveragingFailed(9L, "run-1", 2, 3, 40L, "shard 2 sent 10 parameters, the round has 12", true),
        new RunCommand.RingJoin("run-1", 2, 3, "h:1/cpu-0", "10.0.0.7", 41234, workerRef),
        new RunCommand.RingAborted("run-1", 2, 3, "h:1/cpu-0", 7L << 24 | 3, "the left neighbour closed its connection"),
        new WorkerCommand.RingFormed(9L, "run-1", 2, 3, 9L << 24 | 4, List.of(new io.quarry.protocol.RingPeer(0, 1,
            "10.0.0.6", 41000), new io.quarry.protocol.RingPeer(2, 3, "10.0.0.7", 41234))),
        new CoordinatorCommand.RunStatusReply("run-1", runStatus()),
        new CoordinatorCommand.ListRuns(runsRef),
        new CoordinatorCommand.RunsReply(List.of(runStatus())),
        runStatus().shards().get(0),
        runStatus(),
        metricsSnapshot(),
        new CoordinatorCommand.ResumeRun("run-1", List.of("epochs=5", "optimizer.lr=0.001"), resumeReplyRef),
        new CoordinatorCommand.ResumeReply("run-1", CoordinatorCommand.ResumeOutcome.RESUMED, "run run-1 resumes",
            "runs/run-1"),
        metricsSnapshot().workers().get(0),
        metricsSnapshot().stepSeconds(),
        new CoordinatorCommand.WorkersReply(List.of(
            new CoordinatorCommand.WorkerInfo("local-0", "cpu", io.quarry.protocol.WorkerState.BUSY, "run-1")),
            List.of(new CoordinatorCommand.WorkerHost("local-0", hostLoad()))),
        new CoordinatorCommand.HostReported(9L, "gpu-1:2552/gpu-0", hostLoad()),
        hostLoad(),
        hostLoad().gpus().get(0),
        new CoordinatorCommand.WorkerHost("local-0", hostLoad()));
    for (Object sample : all) samples.putIfAbsent(sample.getClass(), sample);
    return samples;
  }

  private static List<Object> allSamples() {
    List<Object> list = new ArrayList<>();
    list.add(new RunSpec(null, ""));
    list.add(new ShardAssignment(2, 4, 1, 5_000L, 2_500L, "c", null, 0));
    list.add(new RunCommand.TelemetryBatch("run-1", "w", 2, 1, 0L, List.of(), ackRef));
    list.addAll(samples().values());
    return list;
  }

  private static Object roundTrip(Object message) {
    byte[] bytes = serializer.toBinary(message);
    return serializer.fromBinary(bytes);
  }

  /** Records with an array component compare it by reference in {@code equals}: only deep equality applies. */
  private static boolean hasArrayComponent(Object message) {
    return message.getClass().isRecord() && Arrays.stream(message.getClass().getRecordComponents())
        .anyMatch(component -> component.getType().isArray());
  }

  /** Record equality, except that arrays compare by content (records compare array components by reference). */
  private static void assertDeepEquals(Object expected, Object actual, String where) {
    if (expected == null || actual == null) {
      assertEquals(expected, actual, where);
      return;
    }
    assertEquals(expected.getClass(), actual.getClass(), where + ": class");
    if (expected instanceof byte[] bytes) {
      assertArrayEquals(bytes, (byte[]) actual, where);
    } else if (expected instanceof float[] floats) {
      assertArrayEquals(floats, (float[]) actual, where);
    } else if (expected instanceof long[] longs) {
      assertArrayEquals(longs, (long[]) actual, where);
    } else if (expected instanceof double[] doubles) {
      assertArrayEquals(doubles, (double[]) actual, where);
    } else if (expected instanceof List<?> list) {
      List<?> other = (List<?>) actual;
      assertEquals(list.size(), other.size(), where + ": size");
      for (int i = 0; i < list.size(); i++) assertDeepEquals(list.get(i), other.get(i), where + "[" + i + "]");
    } else if (expected.getClass().isRecord()) {
      for (RecordComponent component : expected.getClass().getRecordComponents()) {
        try {
          assertDeepEquals(
              component.getAccessor().invoke(expected), component.getAccessor().invoke(actual),
              where + "." + component.getName());
        } catch (ReflectiveOperationException e) {
          throw new AssertionError(e);
        }
      }
    } else {
      assertEquals(expected, actual, where);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Binding and round trips

  @Test
  void protocolMessagesAreBoundToTheKryoSerializer() {
    for (Object message : allSamples()) {
      Serializer found = serialization.findSerializerFor(message);
      assertInstanceOf(QuarryKryoSerializer.class, found, message.getClass().getName());
      assertEquals(QuarryKryoSerializer.IDENTIFIER, found.identifier());
    }
  }

  @Test
  void everyRegisteredMessageHasARepresentativeInstanceInThisTest() {
    Set<String> missing = new TreeSet<>();
    Map<Class<?>, Object> samples = samples();
    for (Class<?> type : ProtocolRegistry.classes()) {
      if (QuarryMessage.class.isAssignableFrom(type) && !samples.containsKey(type)) missing.add(type.getName());
    }
    assertTrue(missing.isEmpty(), "add a representative instance to samples() for " + missing);
  }

  @Test
  void everyRegisteredMessageRoundTrips() {
    for (Object message : allSamples()) {
      Object back = roundTrip(message);
      assertDeepEquals(message, back, message.getClass().getSimpleName());
      if (!hasArrayComponent(message) && !(message instanceof Enum<?>)) {
        assertEquals(message, back, message.getClass().getSimpleName());
      }
    }
  }

  @Test
  void everyRegisteredMessageRoundTripsThroughPekkoSerialization() {
    for (Object message : allSamples()) {
      byte[] bytes = serialization.serialize(message).get();
      Object back = serialization.deserialize(bytes, QuarryKryoSerializer.IDENTIFIER, "").get();
      assertDeepEquals(message, back, message.getClass().getSimpleName());
    }
  }

  @Test
  void nullResumeFromSurvivesTheRoundTrip() {
    ShardAssignment fresh = new ShardAssignment(0, 2, 1, 0L, 10L, "runs/r/checkpoints/0", null, 0);

    ShardAssignment back = (ShardAssignment) roundTrip(fresh);

    assertNull(back.resumeFrom());
    assertEquals(fresh, back);
  }

  @Test
  void aFullParameterChunkFitsArteryFramesAndSurvivesTheRoundTrip() {
    float[] values = new float[io.quarry.protocol.ParameterChunks.FLOATS_PER_CHUNK];
    Random random = new Random(7);
    for (int i = 0; i < values.length; i++) values[i] = (float) random.nextGaussian();
    RunCommand.SyncChunk chunk = new RunCommand.SyncChunk("run-1", 0, 1, "h:1/cpu-0", 3L, 0, 306, 10_000_000, values,
        workerRef);

    byte[] bytes = serializer.toBinary(chunk);
    RunCommand.SyncChunk back = (RunCommand.SyncChunk) serializer.fromBinary(bytes);

    assertArrayEquals(values, back.values());
    assertTrue(bytes.length < 4 * values.length + 1024, "about 4 bytes a float: " + bytes.length);
    assertTrue(bytes.length < 256 * 1024, "fits Artery's default maximum-frame-size: " + bytes.length);
    // aeron-udp's frame with the default 1 MiB term buffer is 128 KiB, and Artery's envelope needs room beside it.
    assertTrue(bytes.length <= io.quarry.protocol.FrameBudget.messageBytes(128 * 1024),
        "fits aeron-udp's 128 KiB frame with the envelope's headroom: " + bytes.length);
    WorkerCommand.AveragedChunk average = new WorkerCommand.AveragedChunk(9L, "run-1", 0, 1, 3L, 4, 0, 306, 10_000_000,
        values);
    assertTrue(serializer.toBinary(average).length <= io.quarry.protocol.FrameBudget.messageBytes(128 * 1024));
  }

  @Test
  void aFullTelemetryBatchFitsTheFrameItWasSizedFor() {
    for (int frame : new int[] {32 * 1024, 128 * 1024, 1024 * 1024}) {
      int messageBytes = io.quarry.protocol.FrameBudget.messageBytes(frame);
      int max = RunCommand.TelemetryBatch.maxEvents(messageBytes);
      List<TelemetryEvent> events = new ArrayList<>();
      for (int i = 0; i < max; i++) {
        // The largest encodings there are: negative varints take their longest form.
        events.add(i % 3 == 0 ? new TelemetryEvent.Step(Long.MIN_VALUE, Integer.MIN_VALUE, Long.MIN_VALUE,
            Integer.MIN_VALUE, Float.NaN, Float.NaN, Float.NaN)
            : i % 3 == 1 ? new TelemetryEvent.Eval(Long.MIN_VALUE, Integer.MIN_VALUE, Long.MIN_VALUE,
                Integer.MIN_VALUE, 1f, 1f)
            : new TelemetryEvent.Epoch(Long.MIN_VALUE, Integer.MIN_VALUE, Long.MIN_VALUE, Integer.MIN_VALUE, 1f));
      }
      String longName = "w".repeat(200);
      RunCommand.TelemetryBatch batch = new RunCommand.TelemetryBatch(longName, longName, Integer.MIN_VALUE,
          Integer.MIN_VALUE, Long.MIN_VALUE, events, ackRef);

      int bytes = serializer.toBinary(batch).length;

      assertTrue(bytes <= messageBytes, max + " events in " + bytes + " bytes, over " + messageBytes);
    }
  }

  @Test
  void lossSketchBytesSurviveTheRoundTrip() {
    HardExampleSnapshotPart part = snapshotPart();

    HardExampleSnapshotPart back = (HardExampleSnapshotPart) roundTrip(part);

    assertArrayEquals(part.sketchSlice(), back.sketchSlice());
    assertNotSame(part.sketchSlice(), back.sketchSlice());
    assertEquals(part.entries(), back.entries());
    assertEquals(part.maxLoss(), back.maxLoss());
  }

  @Test
  void aPartNamesItsWorkerOnceNotInEveryEntry() {
    String workerId = "127.0.0.1:38013/cpu-0";
    List<HardExample> entries = new ArrayList<>();
    for (int i = 0; i < 1024; i++) entries.add(new HardExample(250_000L - i * 97L, 9f - i / 256f, workerId, 3_999L - i));
    HardExampleSnapshotPart part = new HardExampleSnapshotPart("run-1", 39, workerId, 0, 1, 32_000L, 3_200L, 9.5f, 3,
        new byte[] {1, 2, 3}, entries);

    byte[] bytes = serializer.toBinary(part);

    assertDeepEquals(part, serializer.fromBinary(bytes), "part");
    // Each entry is its sample id, loss, step, label and prediction (~12 bytes), not its worker id again (+22).
    assertTrue(bytes.length < 14 * 1024, "1024 entries in " + bytes.length + " bytes");
  }

  @Test
  void aPartRefusesAnEntryOfAnotherWorker() {
    WorkerCommand.MergedHardExamples mixed = new WorkerCommand.MergedHardExamples(1L, "r", 1, 1.0, "host:2552/cpu-0", 0,
        1, 3, hardExamples(), runRef);

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> serializer.toBinary(mixed));

    assertTrue(e.getMessage().contains("host:2553/gpu:0"), e.getMessage());
  }

  @Test
  void labelsAndPredictionsSurviveTheRoundTripAndNegativeMeansUnknown() {
    HardExample labelled = new HardExample(5L, 2.5f, "w", 9L, 7, 2);
    HardExample negative = new HardExample(6L, 2.5f, "w", 9L, -7, -2);

    HardExample back = (HardExample) roundTrip(labelled);

    assertEquals(7, back.label());
    assertEquals(2, back.predicted());
    assertEquals(HardExample.UNKNOWN, negative.label());
    assertEquals(HardExample.UNKNOWN, negative.predicted());
    assertFalse(new HardExample(1L, 1f, "w", 0L).hasLabel());
  }

  @Test
  void payloadBytesAndFeaturesSurviveTheRoundTrip() {
    byte[] png = new byte[4096];
    new Random(7).nextBytes(png);
    RunCommand.HardExamplePayloads payloads = new RunCommand.HardExamplePayloads("r", 2, "w", List.of(
        new HardExamplePayload.Png(1L, 4, 5, png),
        new HardExamplePayload.Features(2L, 1, 0, new float[] {0.25f, -3f})), 0, true);

    RunCommand.HardExamplePayloads back = (RunCommand.HardExamplePayloads) roundTrip(payloads);

    assertEquals(payloads, back);
    assertArrayEquals(png, ((HardExamplePayload.Png) back.payloads().get(0)).png());
    assertEquals("image/png", back.payloads().get(0).mediaType());
    assertEquals(8, back.payloads().get(1).sizeBytes());
  }

  @Test
  void enumMessagesRoundTripToTheSameConstant() {
    assertTrue(roundTrip(RunCommand.TelemetryAck.INSTANCE) == RunCommand.TelemetryAck.INSTANCE);
    for (RunState state : RunState.values()) {
      RunUpdate.Progressed progressed = new RunUpdate.Progressed("r", state, 0L, 0L, 0f, 0.0, 0L);
      assertEquals(state, ((RunUpdate.Progressed) roundTrip(progressed)).state());
    }
  }

  @Test
  void actorRefsResolveBackToEqualRefs() {
    CoordinatorCommand.RequestWork request = new CoordinatorCommand.RequestWork(1L, "w", "cpu", workerRef);

    CoordinatorCommand.RequestWork back = (CoordinatorCommand.RequestWork) roundTrip(request);

    assertEquals(workerRef, back.worker());
    assertEquals(workerRef.path(), back.worker().path());
  }

  @Test
  void listsComeBackUnmodifiable() {
    WorkerCommand.MergedHardExamples merged = new WorkerCommand.MergedHardExamples(1L, "r", 1, 1.0, "host:2552/cpu-0",
        0, 1, 4, ownExamples(), runRef);
    RunCommand.HardExamplePayloads payloads = new RunCommand.HardExamplePayloads("r", 1, "w",
        List.of(new HardExamplePayload.Png(1L, 0, 0, new byte[] {1})), 0, true);

    WorkerCommand.MergedHardExamples back = (WorkerCommand.MergedHardExamples) roundTrip(merged);
    RunCommand.HardExamplePayloads backPayloads = (RunCommand.HardExamplePayloads) roundTrip(payloads);

    assertThrows(UnsupportedOperationException.class, () -> back.entries().add(ownExamples().get(0)));
    assertThrows(UnsupportedOperationException.class, () -> backPayloads.payloads().clear());
  }

  @Test
  void messagesCanBeSentThroughASystemThatSerializesEveryMessage() {
    var probe = testKit.<RunUpdate>createTestProbe();
    RunUpdate.Finished finished = new RunUpdate.Finished("run-1", summary());

    probe.getRef().tell(finished);

    assertEquals(finished, probe.receiveMessage(Duration.ofSeconds(5)));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Registration guard

  private static final List<Class<?>> PROTOCOL_ROOTS = List.of(
      WorkerCommand.class,
      RunCommand.class,
      CoordinatorCommand.class,
      RunUpdate.class,
      TelemetryEvent.class,
      CoordinatorCommand.SubmitReply.class);

  /** Every concrete QuarryMessage reachable from the sealed roots, their nested types and their record components. */
  private static Set<Class<?>> wireTypes() {
    Set<Class<?>> found = new HashSet<>();
    List<Class<?>> queue = new ArrayList<>(PROTOCOL_ROOTS);
    Set<Class<?>> visited = new HashSet<>();
    while (!queue.isEmpty()) {
      Class<?> type = queue.remove(queue.size() - 1);
      if (!visited.add(type)) continue;
      if (type.isInterface() && !type.isSealed()) continue; // the non-sealed Local interfaces stay in their JVM
      if (type.isSealed()) queue.addAll(Arrays.asList(type.getPermittedSubclasses()));
      if (type.getName().startsWith("io.quarry.protocol.")) queue.addAll(Arrays.asList(type.getDeclaredClasses()));
      if ((type.isRecord() || type.isEnum()) && QuarryMessage.class.isAssignableFrom(type)) found.add(type);
      if (type.isRecord()) {
        for (RecordComponent component : type.getRecordComponents()) {
          addProtocolTypes(component.getGenericType(), queue);
        }
      }
    }
    return found;
  }

  private static void addProtocolTypes(Type type, List<Class<?>> queue) {
    if (type instanceof Class<?> cls && cls.getName().startsWith("io.quarry.protocol.")) {
      queue.add(cls);
    } else if (type instanceof ParameterizedType parameterized) {
      // List<X> carries X; ActorRef<X> carries only a path, but X is what the receiver sends back over the wire.
      for (Type argument : parameterized.getActualTypeArguments()) addProtocolTypes(argument, queue);
    }
  }

  @Test
  void everyWireMessageTypeIsRegistered() {
    Set<Class<?>> registered = new HashSet<>(ProtocolRegistry.classes());
    Set<String> unregistered = new TreeSet<>();
    for (Class<?> type : wireTypes()) {
      if (!registered.contains(type)) unregistered.add(type.getName());
    }
    assertTrue(unregistered.isEmpty(), "add to ProtocolRegistry (at the end): " + unregistered);
  }

  @Test
  void guardFindsTheNestedAndReferencedMessages() {
    Set<Class<?>> types = wireTypes();
    for (Class<?> expected : List.of(
        WorkerCommand.AssignShard.class, RunCommand.ShardStopped.class, RunCommand.TelemetryAck.class,
        CoordinatorCommand.SubmitReply.Rejected.class, CoordinatorCommand.StopReply.class, RunUpdate.Finished.class,
        TelemetryEvent.Eval.class, HardExample.class, HardExampleSnapshotPart.class, ShardAssignment.class,
        RunSpec.class, RunSummary.class, RunCommand.HardExamplePayloads.class, HardExamplePayload.Png.class,
        HardExamplePayload.Features.class)) {
      assertTrue(types.contains(expected), expected.getName());
    }
    for (Class<?> type : types) assertFalse(type.isInterface(), type.getName());
  }

  @Test
  void registryHasNoDuplicates() {
    assertEquals(ProtocolRegistry.classes().size(), new HashSet<>(ProtocolRegistry.classes()).size());
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Failures

  @Test
  void unregisteredMessageFailsNamingItsClass() {
    UnregisteredMessage message = new UnregisteredMessage("x");
    assertInstanceOf(QuarryKryoSerializer.class, serialization.findSerializerFor(message));

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> serializer.toBinary(message));

    assertTrue(e.getMessage().contains(UnregisteredMessage.class.getName()), e.getMessage());
    assertTrue(e.getMessage().contains(ProtocolRegistry.class.getName()), e.getMessage());
    assertTrue(serialization.serialize(message).isFailure());
  }

  @Test
  @SuppressWarnings({"unchecked", "rawtypes"})
  void unregisteredClassNestedInARegisteredMessageFailsNamingTheNestedClass() {
    List events = new ArrayList<>(List.of(new TelemetryEvent.Epoch(2L, 1, 2L, 3, 0.5f)));
    events.add(new UnregisteredMessage("smuggled"));
    RunCommand.TelemetryBatch batch = new RunCommand.TelemetryBatch("r", "w", 0, 1, 0L, events, ackRef);

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> serializer.toBinary(batch));

    assertTrue(e.getMessage().contains(UnregisteredMessage.class.getName()), e.getMessage());
  }

  @Test
  void serializerIsUsableAfterAFailure() {
    assertThrows(IllegalArgumentException.class, () -> serializer.toBinary(new UnregisteredMessage("x")));
    RunSpec spec = new RunSpec("r", "epochs = 1");
    assertEquals(spec, roundTrip(spec));
  }

  private static void assertCleanReadFailure(byte[] bytes) {
    try {
      Object decoded = serializer.fromBinary(bytes);
      // A few garbage inputs happen to spell a valid message; that is acceptable, anything else is not.
      if (decoded != null) assertTrue(decoded instanceof QuarryMessage || decoded.getClass().isArray(), String.valueOf(decoded));
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage().startsWith("Quarry's Kryo serializer cannot read a message of " + bytes.length + " bytes"),
          e.getMessage());
    } catch (Throwable t) {
      fail("garbage of " + bytes.length + " bytes " + Arrays.toString(bytes) + " failed with " + t, t);
    }
  }

  @Test
  void emptyAndTruncatedInputFailsWithAClearMessage() {
    IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> serializer.fromBinary(new byte[0]));
    assertTrue(empty.getMessage().contains("cannot read a message of 0 bytes"), empty.getMessage());

    byte[] whole = serializer.toBinary(summary());
    for (int length = 1; length < whole.length; length++) {
      byte[] truncated = Arrays.copyOf(whole, length);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> serializer.fromBinary(truncated),
          "truncated to " + length);
      assertTrue(e.getMessage().contains("cannot read a message of " + length + " bytes"), e.getMessage());
    }
  }

  @Test
  void garbageBytesFailWithAClearMessageNotAHangOrOutOfMemory() {
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      Random random = new Random(42);
      for (int i = 0; i < 20_000; i++) {
        byte[] garbage = new byte[1 + random.nextInt(64)];
        random.nextBytes(garbage);
        assertCleanReadFailure(garbage);
      }
      assertCleanReadFailure("this is not a Kryo message at all".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    });
  }

  @Test
  void hugeDeclaredLengthsFailWithoutAllocatingThem() {
    byte[] whole = serializer.toBinary(new RunCommand.TelemetryBatch("r", "w", 0, 1, 0L, List.of(), ackRef));
    byte[] marker = {0x11, 0x22, 0x33, 0x44};
    byte[] snapshotBytes = serializer.toBinary(new HardExamplePayload.Png(1L, 0, 0, marker));
    byte[] part = serializer.toBinary(new HardExampleSnapshotPart("r", 1, "w", 0, 1, 0L, 0L, 0f, 0, new byte[0],
        List.of(new HardExample(1L, 1f, "w", 1L))));
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      // A class id followed by a length close to Integer.MAX_VALUE, for every registered class and the built-ins.
      for (int id = 0; id < ProtocolRegistry.FIRST_ID + ProtocolRegistry.classes().size() + 2; id++) {
        byte[] crafted = concat(varInt(id), new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x07, 1, 2});
        assertCleanReadFailure(crafted);
      }
      // A byte[] whose length says 2 GB, and a list whose size says 2 billion.
      assertCleanReadFailure(withLengthBefore(snapshotBytes, marker));
      assertCleanReadFailure(withListSizeSayingTwoBillion(whole));
      // A part whose entry count (the varint before its one entry's 8 bytes) says 2 billion.
      byte[] head = Arrays.copyOf(part, part.length - 9);
      assertEquals(1, part[part.length - 9], "the entry count");
      assertCleanReadFailure(concat(concat(head, new byte[] {(byte) 0xFE, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x07}),
          Arrays.copyOfRange(part, part.length - 8, part.length)));
    });
  }

  /** {@code message} with the length written just before {@code content} (length + 1, one byte) replaced by about 2^31. */
  private static byte[] withLengthBefore(byte[] message, byte[] content) {
    for (int i = 1; i + content.length <= message.length; i++) {
      if (Arrays.equals(Arrays.copyOfRange(message, i, i + content.length), content)) {
        assertEquals(content.length + 1, message[i - 1], "Kryo writes a byte[] as its length + 1");
        byte[] head = Arrays.copyOf(message, i - 1);
        return concat(concat(head, new byte[] {(byte) 0xF0, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x07}),
            Arrays.copyOfRange(message, i, message.length));
      }
    }
    throw new AssertionError("no " + Arrays.toString(content) + " in " + Arrays.toString(message));
  }

  /** The encoding of a TelemetryBatch with an empty list, with the list's size replaced by about 2^31. */
  private static byte[] withListSizeSayingTwoBillion(byte[] emptyListMessage) {
    // The empty list is written as its class id then the size 0: find the last 0 that follows the List id.
    byte[] listId = varInt(ProtocolRegistry.FIRST_ID - 2 + 2);
    for (int i = emptyListMessage.length - 2; i >= 0; i--) {
      if (emptyListMessage[i] == listId[0] && emptyListMessage[i + 1] == 0) {
        byte[] head = Arrays.copyOf(emptyListMessage, i + 1);
        byte[] tail = Arrays.copyOfRange(emptyListMessage, i + 2, emptyListMessage.length);
        return concat(concat(head, new byte[] {(byte) 0xFE, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x07}), tail);
      }
    }
    throw new AssertionError("no list in " + Arrays.toString(emptyListMessage));
  }

  private static byte[] varInt(int value) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    while ((value & ~0x7F) != 0) {
      out.write((value & 0x7F) | 0x80);
      value >>>= 7;
    }
    out.write(value);
    return out.toByteArray();
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] both = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, both, a.length, b.length);
    return both;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Configuration and concurrency

  @Test
  void javaSerializationIsOff() {
    assertFalse(testKit.system().settings().config().getBoolean("pekko.actor.allow-java-serialization"));
    assertTrue(serialization.serialize(new java.util.Date(0)).isFailure(), "a Serializable class must not fall back to Java serialization");
  }

  @Test
  void serializerWritesNoManifest() {
    assertFalse(serializer.includeManifest());
  }

  @Test
  void pooledKryoIsSafeUnderConcurrency() throws Exception {
    List<Object> messages = allSamples();
    int threads = 4;
    int roundTripsPerThread = 2_000;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<Integer>> futures = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int offset = t;
        Callable<Integer> task = () -> {
          for (int i = 0; i < roundTripsPerThread; i++) {
            Object message = messages.get((i + offset * 7) % messages.size());
            assertDeepEquals(message, roundTrip(message), "thread " + offset + " round trip " + i);
          }
          return roundTripsPerThread;
        };
        futures.add(pool.submit(task));
      }
      int done = 0;
      for (Future<Integer> future : futures) done += future.get(60, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(threads * roundTripsPerThread, done);
    } finally {
      pool.shutdownNow();
    }
  }
}
