package io.quarry.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.util.Pair;
import java.util.List;

/**
 * The parameters' gradients as one flat vector, in parameter order ({@code sync.mode = allreduce}): read after the
 * backward pass, averaged across the run's shards, and written back before the optimizer step.
 */
final class Gradients {
  private Gradients() {}

  /** The gradients of the last backward pass, flattened as {@link Models#flatten} flattens the parameters. */
  static float[] flatten(List<Pair<String, Parameter>> parameters) {
    long total = 0;
    for (Pair<String, Parameter> p : parameters) total += p.getValue().getArray().size();
    float[] flat = new float[Math.toIntExact(total)];
    int offset = 0;
    for (Pair<String, Parameter> p : parameters) {
      // getGradient() makes a new handle each call: closed here.
      try (NDArray grad = p.getValue().getArray().getGradient()) {
        float[] values = grad.toFloatArray();
        System.arraycopy(values, 0, flat, offset, values.length);
        offset += values.length;
      }
    }
    return flat;
  }

  /** Writes {@code flat} (as {@link #flatten} made it) into the gradients, in place. */
  static void assign(List<Pair<String, Parameter>> parameters, float[] flat) {
    int offset = 0;
    for (Pair<String, Parameter> p : parameters) {
      try (NDArray grad = p.getValue().getArray().getGradient()) {
        int size = Math.toIntExact(grad.size());
        InPlace.copy(grad, java.util.Arrays.copyOfRange(flat, offset, offset + size));
        offset += size;
      }
    }
  }

  /** Zeroes every gradient without an update: the step is skipped. */
  static void zero(List<Pair<String, Parameter>> parameters) {
    for (Pair<String, Parameter> p : parameters) JniUtils.zeroGrad((PtNDArray) p.getValue().getArray());
  }
}
