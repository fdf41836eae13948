package io.quarry.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.pooling.Pool;
import ai.djl.util.Pair;
import io.quarry.config.RunConfig;
import java.util.List;
import java.util.SplittableRandom;

/** The models {@code model.type} names, their input shapes, and their seeded initialisation. */
final class Models {
  private static final long INIT_SALT = 0x1A17_5EEDL;

  private Models() {}

  /**
   * {@code mlp}: (dense, ReLU, dropout) per {@code model.hidden}, then dense to the classes; images are flattened.
   * {@code cnn}: (3×3 convolution with padding 1, ReLU, 2×2 max-pooling) per {@code model.channels}, flatten, then the
   * MLP's layers.
   */
  static Block build(DjlSettings.Model model, PreparedData data) {
    SequentialBlock block = new SequentialBlock();
    if (model.type().equals("cnn")) {
      if (!data.images()) {
        throw new IllegalArgumentException("model.type = cnn needs images, but " + data.train().source() + " is tabular; "
            + "use model.type = mlp");
      }
      int side = Math.min(data.height(), data.width());
      for (int width : model.channels()) {
        if (side < 2) {
          throw new IllegalArgumentException("model.channels " + model.channels() + ": " + model.channels().size()
              + " poolings shrink " + data.height() + "x" + data.width() + " images below 1 pixel; use fewer convolutions");
        }
        block.add(Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1)).setFilters(width).build());
        block.add(Activation::relu);
        block.add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)));
        side /= 2;
      }
    }
    block.add(Blocks.batchFlattenBlock());
    for (int units : model.hidden()) {
      block.add(Linear.builder().setUnits(units).build());
      block.add(Activation::relu);
      if (model.dropout() > 0) block.add(Dropout.builder().optRate((float) model.dropout()).build());
    }
    block.add(Linear.builder().setUnits(data.classes()).build());
    return block;
  }

  /** The shape of a batch of {@code n} samples as the model takes them: (n, C, H, W) for a CNN, (n, features) else. */
  static Shape batchShape(DjlSettings.Model model, PreparedData data, long n) {
    return model.type().equals("cnn")
        ? new Shape(n, data.channels(), data.height(), data.width())
        : new Shape(n, data.features());
  }

  /**
   * Overwrites every parameter with values drawn from {@code seed}, so every shard of a run, and a rerun, starts from
   * the same model (libtorch's own initialisation draws from a JVM-wide generator that several workers in one JVM would
   * share). The distribution is PyTorch's default for linear and convolution layers: weights and biases uniform in
   * ±1/sqrt(fan-in), fan-in being the inputs of one output unit.
   */
  static void initialise(Block block, long seed) {
    long fanIn = 1;
    for (Pair<String, Parameter> p : block.getParameters()) {
      NDArray array = p.getValue().getArray();
      Shape shape = array.getShape();
      if (p.getValue().getType() != Parameter.Type.BIAS) {
        fanIn = shape.dimension() > 1 ? shape.size() / shape.get(0) : shape.size();
      } // a bias follows its layer's weight, whose fan-in it shares
      double bound = 1 / Math.sqrt(Math.max(1, fanIn));
      SplittableRandom random = new SplittableRandom(seed ^ INIT_SALT ^ p.getKey().hashCode() * 0x9E3779B97F4A7C15L);
      float[] values = new float[Math.toIntExact(array.size())];
      for (int i = 0; i < values.length; i++) values[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
      InPlace.copy(array, values);
    }
  }

  /** Every parameter's values, in parameter order, end to end. */
  static float[] flatten(List<Pair<String, Parameter>> parameters) {
    long total = 0;
    for (Pair<String, Parameter> p : parameters) total += p.getValue().getArray().size();
    float[] flat = new float[Math.toIntExact(total)];
    int offset = 0;
    for (Pair<String, Parameter> p : parameters) {
      float[] values = p.getValue().getArray().toFloatArray();
      System.arraycopy(values, 0, flat, offset, values.length);
      offset += values.length;
    }
    return flat;
  }

  /** The inverse of {@link #flatten}; nothing is changed when {@code flat} does not fit the model. */
  static void assign(List<Pair<String, Parameter>> parameters, float[] flat) {
    long total = 0;
    for (Pair<String, Parameter> p : parameters) total += p.getValue().getArray().size();
    if (total != flat.length) {
      throw new IllegalArgumentException(flat.length + " averaged values for a model of " + total + " parameters");
    }
    int offset = 0;
    for (Pair<String, Parameter> p : parameters) {
      NDArray array = p.getValue().getArray();
      int size = Math.toIntExact(array.size());
      InPlace.copy(array, java.util.Arrays.copyOfRange(flat, offset, offset + size));
      offset += size;
    }
  }
}
