package io.quarry.protocol;

/**
 * One attempt at one shard, as the run hands it to a worker.
 *
 * @param shard the shard's index, from 0
 * @param shards how many shards the run has
 * @param attempt the attempt number, from 1
 * @param firstSample the first sample index of the shard (samples are planned by stable index)
 * @param sampleCount how many consecutive sample indices the shard holds
 * @param checkpointDir where this shard's checkpoints live ({@code runs/<run_id>/checkpoints/<shard>})
 * @param resumeFrom the checkpoint to resume from, or {@code null} to start at step 0
 * @param resumeStep the shard step that checkpoint holds (the step the attempt starts at); 0 without one
 * @param rank the shard's rank in the run's process group ({@code process.distributed = torch}); {@code null} when
 *     the shard trains on its own
 */
public record ShardAssignment(
    int shard,
    int shards,
    int attempt,
    long firstSample,
    long sampleCount,
    String checkpointDir,
    String resumeFrom,
    long resumeStep,
    DistributedRank rank)
    implements QuarryMessage {

  /** An attempt at a shard that trains on its own (no process group). */
  public ShardAssignment(int shard, int shards, int attempt, long firstSample, long sampleCount, String checkpointDir,
      String resumeFrom, long resumeStep) {
    this(shard, shards, attempt, firstSample, sampleCount, checkpointDir, resumeFrom, resumeStep, null);
  }

  /** This assignment with its rank replaced (rank 0's endpoint filled in). */
  public ShardAssignment withRank(DistributedRank newRank) {
    return new ShardAssignment(shard, shards, attempt, firstSample, sampleCount, checkpointDir, resumeFrom, resumeStep,
        newRank);
  }
}
