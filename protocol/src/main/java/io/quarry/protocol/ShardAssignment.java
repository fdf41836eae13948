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
 */
public record ShardAssignment(
    int shard,
    int shards,
    int attempt,
    long firstSample,
    long sampleCount,
    String checkpointDir,
    String resumeFrom,
    long resumeStep)
    implements QuarryMessage {}
