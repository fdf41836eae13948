package io.quarry.worker.trainer;

import io.quarry.config.RunConfig;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.trainer.stub.StubTrainer;
import java.awt.image.BufferedImage;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A test trainer that trains exactly like the stub trainer and also does what a classifier's trainer does: it
 * offers each sample's label ({@link #label}) and predicted class ({@link #predicted}), and registers a payload
 * renderer that draws even sample ids as a 100 x 40 image (so the thumbnail is scaled to 64 x 26) and gives odd ones
 * 80 features (so the leading 64 are kept). The factory records every sample id rendered, for tests to compare
 * with what was merged. Register it in place of a named trainer with {@link TrainerRegistry#with}.
 */
public final class LabellingTestTrainer implements Trainer {
  /** Features a tabular sample has; a payload keeps the leading {@link Payload#MAX_FEATURES}. */
  public static final int FEATURES = 80;
  public static final int IMAGE_WIDTH = 100;
  public static final int IMAGE_HEIGHT = 40;

  /** Makes labelling trainers under {@code name}, all recording into one set of rendered ids. */
  public static final class Factory implements TrainerFactory {
    private final String name;
    private final Set<Long> rendered = ConcurrentHashMap.newKeySet();

    public Factory(String name) {
      this.name = name;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public Trainer create(RunConfig config) {
      return new LabellingTestTrainer(config, rendered);
    }

    /** Every sample id any of this factory's trainers' renderers was asked for. */
    public Set<Long> rendered() {
      return Set.copyOf(rendered);
    }
  }

  private final RunConfig config;
  private final Set<Long> rendered;

  LabellingTestTrainer(RunConfig config, Set<Long> rendered) {
    this.config = config;
    this.rendered = rendered;
  }

  public static int label(long sampleId) {
    return (int) (sampleId % 10);
  }

  public static int predicted(long sampleId) {
    return (int) ((sampleId / 10) % 10);
  }

  /** The features of odd sample ids: {@code id + i / 2} for column i. */
  public static float feature(long sampleId, int column) {
    return sampleId + column * 0.5f;
  }

  /** The grey level of pixel (x, y) of an even sample's image. */
  public static int grey(long sampleId, int x, int y) {
    return (int) ((sampleId + x + y) & 0xFF);
  }

  @Override
  public ShardResult train(TrainerContext context) throws Exception {
    context.payloads(this::render);
    return new StubTrainer(config).train(new Labelling(context));
  }

  private Payload render(long sampleId) {
    rendered.add(sampleId);
    if (sampleId % 2 == 1) {
      float[] features = new float[FEATURES];
      for (int i = 0; i < FEATURES; i++) features[i] = feature(sampleId, i);
      return Payload.features(features);
    }
    BufferedImage image = new BufferedImage(IMAGE_WIDTH, IMAGE_HEIGHT, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < IMAGE_HEIGHT; y++) {
      for (int x = 0; x < IMAGE_WIDTH; x++) image.getRaster().setSample(x, y, 0, grey(sampleId, x, y));
    }
    return Payload.thumbnail(image);
  }

  /** The worker's context, with a sink that adds labels and predictions to the stub trainer's offers. */
  private static final class Labelling extends ForwardingTrainerContext implements HardExampleSink {
    private int[] labels = new int[0];
    private int[] predicted = new int[0];

    Labelling(TrainerContext context) {
      super(context);
    }

    @Override
    public void offer(long[] sampleIds, float[] losses, int[] ignoredLabels, int[] ignoredPredicted, int count,
        long step) {
      if (labels.length < count) {
        labels = new int[count];
        predicted = new int[count];
      }
      for (int i = 0; i < count; i++) {
        labels[i] = label(sampleIds[i]);
        predicted[i] = LabellingTestTrainer.predicted(sampleIds[i]);
      }
      delegate.hardExamples().offer(sampleIds, losses, labels, predicted, count, step);
    }

    @Override
    public HardExampleSink hardExamples() {
      return this;
    }
  }
}
