package io.quarry.djl;

import io.quarry.config.RunConfig;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;

/**
 * A run's data as the DJL trainer uses it: the training and validation splits of {@code dataset.*}, normalised
 * ({@code dataset.normalize}) with the training split's statistics. Training sample id {@code i} is row {@code i} of
 * {@link #train()}. Cached per JVM by every key it depends on, so several workers in one JVM read a file once (a second
 * worker asking while the first reads waits for it).
 *
 * <p>Images are flattened in CHW order: {@link #channels()} planes of {@link #height()} x {@link #width()}. Tabular
 * data reports 1 channel of 1 x {@link #features()}.
 *
 * <p>For the few samples that survive a hard-example merge, {@link #thumbnailPng} and {@link #leadingFeatures} give
 * what a person looks at, recovered by inverting the normalisation (no raw copy of the data is kept).
 */
public final class PreparedData {
  /** The largest side of a thumbnail; larger images are scaled down to fit, smaller ones are kept as they are. */
  public static final int THUMBNAIL_SIDE = 64;

  private record Key(String format, String path, String synthetic, int features, int imageSize, int channels,
      int labelColumn, double valFraction, long samples, String normalize, long seed) {
    /** The dataset keys {@code config}'s data depends on; the others are blanked so they do not split the cache. */
    static Key of(RunConfig config) {
      DjlSettings.Dataset d = DjlSettings.of(config).dataset();
      String format = d.format();
      boolean synthetic = format.equals("synthetic");
      boolean blobs = synthetic && d.synthetic().equals("blobs");
      boolean resized = format.equals("image-folder") || (synthetic && !blobs);
      return new Key(format, synthetic ? "" : d.path(), synthetic ? d.synthetic() : "", blobs ? d.features() : 0,
          resized ? d.imageSize() : 0, resized ? d.channels() : 0, format.equals("csv") ? d.labelColumn() : 0,
          d.valFraction(), synthetic ? d.samples() : 0, d.normalize(), config.seed);
    }
  }

  private static final Map<Key, CompletableFuture<PreparedData>> CACHE = new ConcurrentHashMap<>();

  private final TabularData train;
  private final TabularData val;
  private final Normalization normalization;
  private final List<String> classNames;

  private PreparedData(TabularData train, TabularData val, Normalization normalization, List<String> classNames) {
    this.train = train;
    this.val = val;
    this.normalization = normalization;
    this.classNames = classNames;
  }

  /** The run's data: read, split and normalised on first use in this JVM, then cached. */
  public static PreparedData of(RunConfig config) throws IOException {
    Key key = Key.of(config);
    CompletableFuture<PreparedData> mine = new CompletableFuture<>();
    CompletableFuture<PreparedData> theirs = CACHE.putIfAbsent(key, mine);
    if (theirs != null) return await(theirs);
    try {
      PreparedData prepared = load(config);
      mine.complete(prepared);
      return prepared;
    } catch (IOException | RuntimeException | Error e) {
      CACHE.remove(key, mine); // a later attempt reads again (the file may have been fixed)
      mine.completeExceptionally(e);
      throw e;
    }
  }

  private static PreparedData load(RunConfig config) throws IOException {
    DjlSettings.Dataset d = DjlSettings.of(config).dataset();
    SourceData source = switch (d.format()) {
      case "csv" -> SourceData.of(CsvDataset.load(Path.of(d.path()), d.labelColumn()));
      case "idx" -> IdxDataset.load(Path.of(d.path()));
      case "image-folder" -> ImageFolderDataset.load(Path.of(d.path()), d.imageSize(), d.channels());
      default -> d.synthetic().equals("blobs")
          ? SourceData.of(BlobsDataset.generate((int) d.samples(), d.features(), config.seed))
          : new SourceData(ShapesDataset.generate((int) d.samples(), d.imageSize(), d.channels(), config.seed), null,
              ShapesDataset.NAMES);
    };
    return prepare(source, d.valFraction(), config.seed, d.normalize());
  }

  private static PreparedData await(CompletableFuture<PreparedData> loading) throws IOException {
    try {
      return loading.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while another worker reads the dataset");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof IOException io) throw new IOException(io.getMessage(), io);
      if (cause instanceof RuntimeException runtime) throw runtime;
      if (cause instanceof Error error) throw error;
      throw new IOException(cause);
    }
  }

  /** Splits {@code all} by {@code valFraction} and standardises both splits with the training split's statistics. */
  public static PreparedData prepare(TabularData all, double valFraction, long seed) {
    return prepare(SourceData.of(all), valFraction, seed, "standard");
  }

  /**
   * Splits {@code source} (unless it has its own validation split) and normalises both splits with {@code normalize}
   * fitted on the training split. Takes {@code source} over: a source with its own validation split is normalised in
   * place (the data is not copied, an idx or image-folder dataset can be large).
   */
  public static PreparedData prepare(SourceData source, double valFraction, long seed, String normalize) {
    TabularData train;
    TabularData val;
    if (source.val() != null) {
      train = source.samples();
      val = source.val();
    } else {
      Split split = Split.of(source.samples().rows(), valFraction, seed);
      train = source.samples().select(split.train());
      val = source.samples().select(split.val());
    }
    int classes = Math.max(Math.max(train.classes(), val.classes()), source.classNames().size());
    Normalization normalization = Normalization.fit(normalize, train);
    normalization.apply(train.x());
    normalization.apply(val.x());
    return new PreparedData(train.withClasses(classes), val.withClasses(classes), normalization, source.classNames());
  }

  /** The training split: row {@code i} is sample id {@code i}. */
  public TabularData train() {
    return train;
  }

  /** The validation split, evaluated whole by every worker. */
  public TabularData val() {
    return val;
  }

  /** Values per sample ({@code channels * height * width}). */
  public int features() {
    return train.features();
  }

  public int classes() {
    return train.classes();
  }

  /** True when samples are images (idx, image-folder, synthetic shapes). */
  public boolean images() {
    return train.images();
  }

  /** Image channels (1 gray, 3 RGB); 1 for tabular data. */
  public int channels() {
    return train.channels();
  }

  /** Image height in pixels; 1 for tabular data. */
  public int height() {
    return train.height();
  }

  /** Image width in pixels; {@link #features()} for tabular data. */
  public int width() {
    return train.width();
  }

  /** A label's name: an image folder's class directory, a synthetic shape's name, else the label's number. */
  public String className(int label) {
    if (label < 0 || label >= classes()) {
      throw new IllegalArgumentException("label " + label + " is not a class of " + train.source() + " (0 .. " + (classes() - 1) + ")");
    }
    return label < classNames.size() ? classNames.get(label) : Integer.toString(label);
  }

  /**
   * PNG bytes of training sample {@code trainRow}'s image as read (before normalisation): 8-bit gray for 1 channel,
   * RGB for 3, scaled down to fit {@value #THUMBNAIL_SIDE} x {@value #THUMBNAIL_SIDE} when larger (never up).
   *
   * @throws IllegalStateException for tabular data
   */
  public byte[] thumbnailPng(int trainRow) {
    if (!images()) throw new IllegalStateException(train.source() + " is tabular: its samples have no image");
    int c = channels();
    int h = height();
    int w = width();
    float[] raw = raw(trainRow, features());
    double shrink = Math.min(1.0, (double) THUMBNAIL_SIDE / Math.max(h, w));
    int outH = Math.max(1, (int) Math.round(h * shrink));
    int outW = Math.max(1, (int) Math.round(w * shrink));
    return Images.png(Images.resize(raw, c, h, w, outH, outW), c, outH, outW);
  }

  /**
   * The first {@code max} values of training sample {@code trainRow} as read, before normalisation (recovered by
   * inverting it: equal to the read values within float rounding). For images, the first pixels in CHW order.
   */
  public float[] leadingFeatures(int trainRow, int max) {
    return raw(trainRow, Math.max(0, Math.min(max, features())));
  }

  private float[] raw(int trainRow, int count) {
    if (trainRow < 0 || trainRow >= train.rows()) {
      throw new IndexOutOfBoundsException("training row " + trainRow + " of " + train.rows() + " in " + train.source());
    }
    float[] out = new float[count];
    int from = trainRow * features();
    for (int i = 0; i < count; i++) out[i] = (float) normalization.invert(i, train.x()[from + i]);
    return out;
  }

  @Override
  public String toString() {
    return "PreparedData[" + train.source() + ": " + train.rows() + " train, " + val.rows() + " val, " + train.shape()
        + ", " + classes() + " classes]";
  }
}
