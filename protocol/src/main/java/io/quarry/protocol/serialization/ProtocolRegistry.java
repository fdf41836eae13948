package io.quarry.protocol.serialization;

import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.DistributedRank;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.HardExampleSnapshotPart;
import io.quarry.protocol.HostLoad;
import io.quarry.protocol.RingPeer;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunMetricsSnapshot;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.ShardState;
import io.quarry.protocol.TelemetryEvent;
import io.quarry.protocol.WorkerAllowance;
import io.quarry.protocol.WorkerCommand;
import io.quarry.protocol.WorkerState;
import java.util.List;

/**
 * Every class Quarry's Kryo serializer accepts, in a fixed order: the position is the Kryo registration id,
 * so append new classes at the end and never reorder (nodes of one cluster must agree).
 */
public final class ProtocolRegistry {
  /** The first registration id Quarry uses (Kryo reserves the ids below it for its defaults). */
  public static final int FIRST_ID = 100;

  private static final List<Class<?>> CLASSES = List.of(
      byte[].class,
      int[].class,
      long[].class,
      float[].class,
      double[].class,
      RunState.class,
      ShardState.class,
      WorkerState.class,
      RunSpec.class,
      ShardAssignment.class,
      HardExample.class,
      HardExampleSnapshot.class, // no longer sent (it travels as HardExampleSnapshotPart); kept for the ids after it
      RunSummary.class,
      WorkerCommand.CoordinatorAnnounced.class,
      WorkerCommand.AssignShard.class,
      WorkerCommand.StopShard.class,
      WorkerCommand.CollectHardExamples.class,
      WorkerCommand.MergedHardExamples.class,
      WorkerCommand.ReleaseRun.class,
      RunCommand.ShardStarted.class,
      RunCommand.ShardCheckpointed.class,
      RunCommand.ShardCompleted.class,
      RunCommand.ShardFailed.class,
      RunCommand.ShardStopped.class,
      RunCommand.TelemetryBatch.class,
      RunCommand.TelemetryAck.class,
      TelemetryEvent.Step.class,
      TelemetryEvent.Epoch.class,
      TelemetryEvent.Eval.class,
      CoordinatorCommand.RequestWork.class,
      CoordinatorCommand.SubmitRun.class,
      CoordinatorCommand.StopRun.class,
      CoordinatorCommand.WatchRun.class,
      CoordinatorCommand.SubmitReply.Accepted.class,
      CoordinatorCommand.SubmitReply.Rejected.class,
      CoordinatorCommand.StopReply.class,
      RunUpdate.Progressed.class,
      RunUpdate.Finished.class,
      RunUpdate.UnknownRun.class,
      CoordinatorCommand.GetWorkers.class,
      CoordinatorCommand.WorkerInfo.class,
      CoordinatorCommand.WorkersReply.class,
      RunStatus.class,
      RunStatus.ShardStatus.class,
      CoordinatorCommand.GetRun.class,
      CoordinatorCommand.RunStatusReply.class,
      CoordinatorCommand.ListRuns.class,
      CoordinatorCommand.RunsReply.class,
      WorkerCommand.AdoptShard.class,
      CoordinatorCommand.ShardInProgress.class,
      CoordinatorCommand.Redeliver.class,
      RunCommand.SyncChunk.class,
      WorkerCommand.AveragedChunk.class,
      WorkerCommand.AveragingFailed.class,
      HardExamplePayload.Png.class,
      HardExamplePayload.Features.class,
      RunCommand.HardExamplePayloads.class,
      RunCounters.class,
      RunCommand.ShardProgressed.class,
      WorkerCommand.SizeRun.class,
      WorkerCommand.RunSized.class,
      WorkerAllowance.class,
      RunCommand.ShardRefused.class,
      CoordinatorCommand.SubmitReply.Why.class,
      RunCommand.CheckpointUnusable.class,
      HardExampleSnapshotPart.class,
      WorkerCommand.SnapshotCredit.class,
      RunCommand.MergedCredit.class,
      RunMetricsSnapshot.class,
      RunMetricsSnapshot.WorkerTotals.class,
      RunMetricsSnapshot.Histogram.class,
      CoordinatorCommand.ResumeRun.class,
      CoordinatorCommand.ResumeReply.class,
      CoordinatorCommand.ResumeOutcome.class,
      HostLoad.class,
      HostLoad.Gpu.class,
      CoordinatorCommand.HostReported.class,
      CoordinatorCommand.WorkerHost.class,
      DistributedRank.class,
      RunCommand.RankEndpoint.class,

      RingPeer.class,
      RunCommand.RingJoin.class,
      RunCommand.RingAborted.class,
      WorkerCommand.RingFormed.class);

  private ProtocolRegistry() {}

  /** The registered classes; the class at index i has Kryo id {@code FIRST_ID + i}. */
  public static List<Class<?>> classes() {
    return CLASSES;
  }
}
