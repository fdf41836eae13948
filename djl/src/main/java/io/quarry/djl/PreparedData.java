package io.quarry.djl;

import io.quarry.protocol.config.RunConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A run's data as the DJL trainer uses it: the training and validation splits, standardised with the training
 * split's per-feature mean and standard deviation. Cached per JVM by the keys it depends on, so several workers in one
 * JVM read a file once.
 */
public record PreparedData(TabularData train, TabularData val, int features, int classes) {
  private record Key(String format, String path, int labelColumn, double valFraction, long samples, long seed) {}

  private static final Map<Key, PreparedData> CACHE = new ConcurrentHashMap<>();

  public static PreparedData of(RunConfig config) throws IOException {
    RunConfig.Dataset djl = config.dataset;
    boolean csv = djl.format().equals("csv");
    Key key = new Key(djl.format(), csv ? djl.path() : "", djl.labelColumn(), djl.valFraction(),
        csv ? 0 : djl.samples(), config.seed);
    PreparedData cached = CACHE.get(key);
    if (cached != null) return cached;
    TabularData all = csv
        ? CsvDataset.load(Path.of(djl.path()), djl.labelColumn())
        : SyntheticDataset.generate((int) djl.samples(), config.seed);
    PreparedData prepared = prepare(all, djl.valFraction(), config.seed);
    CACHE.put(key, prepared);
    return prepared;
  }

  /** Splits {@code all} and standardises both splits with the training split's statistics. */
  public static PreparedData prepare(TabularData all, double valFraction, long seed) {
    Split split = Split.of(all.rows(), valFraction, seed);
    TabularData train = all.select(split.train());
    TabularData val = all.select(split.val());
    int d = all.features();
    double[] mean = new double[d];
    double[] var = new double[d];
    int n = train.rows();
    for (int i = 0; i < n; i++) for (int f = 0; f < d; f++) mean[f] += train.x()[i * d + f];
    for (int f = 0; f < d; f++) mean[f] /= n;
    for (int i = 0; i < n; i++) {
      for (int f = 0; f < d; f++) {
        double delta = train.x()[i * d + f] - mean[f];
        var[f] += delta * delta;
      }
    }
    float[] scale = new float[d];
    for (int f = 0; f < d; f++) {
      double std = Math.sqrt(var[f] / n);
      scale[f] = std > 1e-8 ? (float) (1 / std) : 1f; // a constant feature stays 0 after centring
    }
    standardise(train.x(), d, mean, scale);
    standardise(val.x(), d, mean, scale);
    return new PreparedData(train, val, d, all.classes());
  }

  private static void standardise(float[] x, int d, double[] mean, float[] scale) {
    for (int i = 0; i < x.length; i++) x[i] = (float) ((x[i] - mean[i % d]) * scale[i % d]);
  }

  /** True when the samples are images (C, H, W). */
  public boolean images() {
    return false;
  }

  public int channels() {
    return 1;
  }

  public int height() {
    return 1;
  }

  public int width() {
    return features;
  }
}
