package io.quarry.protocol;

/**
 * One hard example: a sample of the run's dataset, named by its stable index, with the highest loss it was
 * seen with, the worker that saw it, the shard step at which it did, and, when the trainer knows them, the
 * sample's label and the class the model predicted for it at that step.
 *
 * @param sampleId the stable index of the sample in its dataset
 * @param loss the sample's loss (the highest seen in the window)
 * @param workerId the worker that reported it
 * @param step the shard step at which that loss was seen
 * @param label the sample's class label, or {@link #UNKNOWN} (every negative value is stored as {@link #UNKNOWN})
 * @param predicted the class the model predicted at {@code step}, or {@link #UNKNOWN}
 */
public record HardExample(long sampleId, float loss, String workerId, long step, int label, int predicted)
    implements QuarryMessage {
  /** A label or prediction the trainer did not report (the stub and process trainers, or a regression task). */
  public static final int UNKNOWN = -1;

  public HardExample {
    if (label < 0) label = UNKNOWN;
    if (predicted < 0) predicted = UNKNOWN;
  }

  /** An entry whose label and prediction are unknown. */
  public HardExample(long sampleId, float loss, String workerId, long step) {
    this(sampleId, loss, workerId, step, UNKNOWN, UNKNOWN);
  }

  /** Whether the trainer reported the sample's label. */
  public boolean hasLabel() {
    return label != UNKNOWN;
  }

  /** Whether the trainer reported the predicted class. */
  public boolean hasPrediction() {
    return predicted != UNKNOWN;
  }
}
