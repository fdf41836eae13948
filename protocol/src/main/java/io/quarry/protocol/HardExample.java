package io.quarry.protocol;

/**
 * One hard example: a sample of the run's dataset, named by its stable index, with the highest loss it was
 * seen with, the worker that saw it and the shard step at which it did.
 *
 * @param sampleId the stable index of the sample in its dataset
 * @param loss the sample's loss (the highest seen in the window)
 * @param workerId the worker that reported it
 * @param step the shard step at which that loss was seen
 */
public record HardExample(long sampleId, float loss, String workerId, long step) implements QuarryMessage {}
