package io.quarry.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The raw copy of {@code bench/pytorch_mlp.py make-data}'s blobs ({@code blobs.x.f32}, {@code blobs.y.i64}),
 * standardised per feature as DjlTrainer's data preparation does, for the forward-only variant.
 */
record BlobData(int rows, int features, float[] x, long[] y) {
  static final int FEATURES = 784;

  static BlobData load(Path dir) throws IOException {
    ByteBuffer xBytes = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("blobs.x.f32"))).order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer yBytes = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("blobs.y.i64"))).order(ByteOrder.LITTLE_ENDIAN);
    int rows = yBytes.remaining() / Long.BYTES;
    if (xBytes.remaining() != rows * FEATURES * Float.BYTES) {
      throw new IOException(dir + ": blobs.x.f32 holds " + xBytes.remaining() + " bytes, expected " + rows + " rows of "
          + FEATURES + " floats as blobs.y.i64 has " + rows + " labels");
    }
    float[] x = new float[rows * FEATURES];
    xBytes.asFloatBuffer().get(x);
    long[] y = new long[rows];
    yBytes.asLongBuffer().get(y);
    standardise(x, rows, FEATURES);
    return new BlobData(rows, FEATURES, x, y);
  }

  private static void standardise(float[] x, int rows, int d) {
    double[] mean = new double[d];
    double[] var = new double[d];
    for (int i = 0; i < rows; i++) for (int f = 0; f < d; f++) mean[f] += x[i * d + f];
    for (int f = 0; f < d; f++) mean[f] /= rows;
    for (int i = 0; i < rows; i++) {
      for (int f = 0; f < d; f++) {
        double delta = x[i * d + f] - mean[f];
        var[f] += delta * delta;
      }
    }
    for (int f = 0; f < d; f++) {
      double std = Math.sqrt(var[f] / rows);
      var[f] = std > 1e-8 ? 1 / std : 1;
    }
    for (int i = 0; i < x.length; i++) x[i] = (float) ((x[i] - mean[i % d]) * var[i % d]);
  }
}
