package io.quarry.djl;

import io.quarry.config.RunConfig;
import java.util.List;

/**
 * The djl trainer's section of a run config ({@link DjlTrainerSpec} declares its keys): its data, model and optimizer.
 * The learning rate, batch size, epochs and seed are core keys ({@link RunConfig}).
 */
record DjlSettings(Dataset dataset, Model model, Optimizer optimizer) {

  /** The djl section of {@code config}. */
  static DjlSettings of(RunConfig config) {
    var raw = config.raw();
    return new DjlSettings(
        new Dataset(
            raw.getString("dataset.format"),
            raw.getString("dataset.path"),
            raw.getString("dataset.synthetic"),
            raw.getInt("dataset.features"),
            raw.getInt("dataset.image-size"),
            raw.getInt("dataset.channels"),
            raw.getInt("dataset.label-column"),
            raw.getDouble("dataset.val-fraction"),
            raw.getLong("dataset.samples"),
            raw.getString("dataset.normalize"),
            raw.getBoolean("dataset.shuffle")),
        new Model(
            raw.getString("model.type"),
            List.copyOf(raw.getIntList("model.hidden")),
            List.copyOf(raw.getIntList("model.channels")),
            raw.getDouble("model.dropout")),
        new Optimizer(
            raw.getString("optimizer.type"),
            raw.getDouble("optimizer.momentum"),
            raw.getDouble("optimizer.weight-decay"),
            raw.getString("optimizer.schedule"),
            raw.getLong("optimizer.warmup-steps"),
            raw.getLong("optimizer.decay-every"),
            raw.getDouble("optimizer.decay-factor")));
  }

  /**
   * {@code dataset.*}.
   *
   * @param format {@code synthetic}, {@code csv}, {@code idx} or {@code image-folder}
   * @param path the csv file or the idx / image-folder directory; empty for synthetic
   * @param synthetic {@code shapes} (images) or {@code blobs} (tabular), for {@code format = synthetic}
   * @param features features per sample of synthetic blobs
   * @param imageSize side length of images (synthetic shapes, image-folder)
   * @param channels 1 (grayscale) or 3 (RGB), for synthetic shapes and image-folder
   * @param labelColumn the csv label's column, -1 = the last
   * @param valFraction the fraction of samples held out for evaluation (when the data has no validation files)
   * @param samples the synthetic dataset's size (training and validation)
   * @param normalize {@code standard}, {@code minmax} or {@code none}
   * @param shuffle a seeded shuffle of each shard per epoch
   */
  record Dataset(
      String format, String path, String synthetic, int features, int imageSize, int channels, int labelColumn,
      double valFraction, long samples, String normalize, boolean shuffle) {
    /** True when the samples are images (the CNN can take them). */
    boolean images() {
      return format.equals("idx") || format.equals("image-folder") || (format.equals("synthetic") && synthetic.equals("shapes"));
    }

    /** How many of {@code total} samples the validation split holds. */
    static long valCount(long total, double valFraction) {
      return Math.min(total - 1, Math.round(total * valFraction));
    }

    /** How many of {@code total} samples the training split holds. */
    static long trainCount(long total, double valFraction) {
      return total - valCount(total, valFraction);
    }
  }

  /**
   * {@code model.*}.
   *
   * @param type {@code mlp} or {@code cnn}
   * @param hidden hidden dense layer sizes
   * @param channels the CNN's convolution widths
   * @param dropout dropout after each hidden dense layer, 0 = none
   */
  record Model(String type, List<Integer> hidden, List<Integer> channels, double dropout) {}

  /**
   * {@code optimizer.*} but the learning rate ({@link RunConfig#learningRate}, a core key).
   *
   * @param type {@code sgd}, {@code adam} or {@code adamw}
   * @param momentum SGD's momentum, 0 = plain
   * @param weightDecay L2 for sgd and adam, decoupled for adamw
   * @param schedule {@code constant}, {@code step} or {@code cosine}
   * @param warmupSteps linear warm-up steps
   * @param decayEvery steps between decays of the step schedule
   * @param decayFactor the step schedule's factor
   */
  record Optimizer(
      String type, double momentum, double weightDecay, String schedule, long warmupSteps, long decayEvery,
      double decayFactor) {}
}
