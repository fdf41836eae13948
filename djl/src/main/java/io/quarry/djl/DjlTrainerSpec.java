package io.quarry.djl;

import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.config.TrainerSpec;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code trainer = djl}: the section of the run config the DJL trainer reads ({@code optimizer.*} but the learning
 * rate, {@code dataset.*}, {@code model.*}), its checks, and the size of a run's training split, read from the data.
 */
public final class DjlTrainerSpec implements TrainerSpec {
  @Override
  public String name() {
    return "djl";
  }

  @Override
  public String description() {
    return "a CNN or MLP trained in the worker JVM with Deep Java Library on PyTorch, on dataset.*";
  }

  @Override
  public List<ConfigKey> keys() {
    return List.of(
        ConfigKey.choice("optimizer.type", List.of("sgd", "adam", "adamw"), "trainer = djl: the optimizer"),
        ConfigKey.decimal("optimizer.momentum", 0.0, 0.999, "trainer = djl, sgd: momentum; 0 = plain SGD"),
        ConfigKey.decimal("optimizer.weight-decay", 0.0, 1.0, "trainer = djl: weight decay (L2 for sgd and adam, decoupled for adamw)"),
        ConfigKey.choice("optimizer.schedule", List.of("constant", "step", "cosine"), "trainer = djl: the learning-rate schedule"),
        ConfigKey.longInt("optimizer.warmup-steps", 0, 1L << 40, "trainer = djl: linear warm-up from 0 over this many steps"),
        ConfigKey.longInt("optimizer.decay-every", 1, 1L << 40, "trainer = djl, schedule = step: steps between decays"),
        ConfigKey.decimal("optimizer.decay-factor", 0.0, 1.0, "trainer = djl, schedule = step: the lr is multiplied by this"),
        ConfigKey.choice("dataset.format", List.of("synthetic", "csv", "idx", "image-folder"),
            "trainer = djl: where the data comes from"),
        ConfigKey.text("dataset.path", "trainer = djl: the csv file, or the directory for idx and image-folder"),
        ConfigKey.choice("dataset.synthetic", List.of("shapes", "blobs"),
            "trainer = djl, dataset.format = synthetic: drawn shapes (images) or Gaussian blobs (tabular)"),
        ConfigKey.integer("dataset.features", 2, 1 << 16, "trainer = djl, synthetic blobs: features per sample"),
        ConfigKey.integer("dataset.image-size", 8, 256, "trainer = djl, images (shapes, image-folder): side length in pixels"),
        ConfigKey.integer("dataset.channels", 1, 3, "trainer = djl, images (shapes, image-folder): 1 = grayscale, 3 = RGB"),
        ConfigKey.integer("dataset.label-column", -1, 1 << 20, "trainer = djl, csv: the label's column; -1 = the last"),
        ConfigKey.decimal("dataset.val-fraction", 0.0, 0.9, "trainer = djl: fraction of samples held out for evaluation"),
        ConfigKey.longInt("dataset.samples", 10, 1L << 24, "trainer = djl, dataset.format = synthetic: samples generated"),
        ConfigKey.choice("dataset.normalize", List.of("standard", "minmax", "none"),
            "trainer = djl: standard = mean 0 / std 1 per feature (per channel for images), minmax = 0..1, none"),
        ConfigKey.bool("dataset.shuffle", "trainer = djl: a seeded shuffle of each shard per epoch; false = in sample order"),
        ConfigKey.choice("model.type", List.of("mlp", "cnn"), "trainer = djl: the model"),
        ConfigKey.intList("model.hidden", 1, 1 << 16, "trainer = djl: hidden layer sizes (the MLP's, the CNN's after its convolutions)"),
        ConfigKey.intList("model.channels", 1, 1 << 12, "trainer = djl, cnn: output channels of each 3x3 convolution (each then pooled 2x2)"),
        ConfigKey.decimal("model.dropout", 0.0, 0.95, "trainer = djl: dropout before each hidden dense layer's output; 0 = none"));
  }

  @Override
  public void check(RunConfig config) {
    DjlSettings djl = DjlSettings.of(config);
    if (djl.dataset().channels() == 2) {
      throw new RunConfigException("config key 'dataset.channels': 2 is not allowed; allowed: 1 (grayscale) or 3 (RGB)");
    }
    if (djl.model().type().equals("cnn") && !djl.dataset().images()) {
      String data = djl.dataset().format().equals("synthetic")
          ? "dataset.synthetic = " + djl.dataset().synthetic()
          : "dataset.format = " + djl.dataset().format();
      throw new RunConfigException("config key 'model.type': cnn needs images, but " + data + " is tabular; allowed: "
          + "model.type = mlp, or image data (dataset.format = idx, image-folder, or synthetic with dataset.synthetic = shapes)");
    }
  }

  /** The csv file or the idx / image-folder directory; synthetic data reads nothing. */
  @Override
  public List<DataPath> dataPaths(RunConfig config) {
    DjlSettings.Dataset dataset = DjlSettings.of(config).dataset();
    if (dataset.format().equals("synthetic") || dataset.path().isBlank()) return List.of();
    return List.of(new DataPath("dataset.path", dataset.path()));
  }

  /**
   * The training split's size: computed for synthetic data; for a csv file, an idx header or an image folder, read
   * from the data (the path is checked here, where the data is needed, so that {@code quarry config} can show a
   * config whose data is elsewhere).
   */
  @Override
  public long samples(RunConfig config) {
    DjlSettings.Dataset dataset = DjlSettings.of(config).dataset();
    if (dataset.format().equals("synthetic")) {
      return DjlSettings.Dataset.trainCount(dataset.samples(), dataset.valFraction());
    }
    if (dataset.path().isBlank()) {
      String expected = switch (dataset.format()) {
        case "csv" -> "a path to a .csv or .csv.gz file, e.g. dataset.path = \"data/digits.csv.gz\"";
        case "idx" -> "the directory holding " + IdxFiles.TRAIN_IMAGES + " and " + IdxFiles.TRAIN_LABELS
            + " (each may be .gz), e.g. dataset.path = \"data/mnist\"";
        default -> "the directory of class subdirectories of PNG/JPEG images, e.g. dataset.path = \"data/flowers\"";
      };
      throw new RunConfigException("config key 'dataset.path': empty, but trainer = djl with dataset.format = "
          + dataset.format() + " needs the data to read; allowed: " + expected);
    }
    Path path = Path.of(dataset.path());
    return switch (dataset.format()) {
      case "csv" -> DjlSettings.Dataset.trainCount(CsvRows.count(path), dataset.valFraction());
      case "idx" -> IdxFiles.locate(path).trainingSamples(dataset.valFraction());
      default -> ImageFolderFiles.list(path).trainingSamples(dataset.valFraction());
    };
  }
}
