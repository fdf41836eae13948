package io.quarry.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

/**
 * Writes values into an existing array in place (a slice assignment, libtorch's {@code copy_}), with grad mode off.
 *
 * <p>Not {@link NDArray#set(java.nio.Buffer)}: DJL implements that by pointing the tensor's storage at a Java direct
 * buffer under libtorch's deprecated {@code AutoNonVariableTypeMode}, which prints a deprecation warning into the
 * user's terminal (once per process) and leaves a parameter's memory owned by the Java heap's direct buffer pool.
 * An in-place copy keeps the tensor's own storage, so a parameter stays the same tensor for its gradient and for
 * the optimizer's state.
 */
final class InPlace {
  private InPlace() {}

  /** Copies {@code values} (as many as {@code target} holds, in row-major order) into {@code target}. */
  static void copy(NDArray target, float[] values) {
    if (values.length != target.size()) {
      throw new IllegalArgumentException(values.length + " values for an array of " + target.size());
    }
    try (NoGrad off = new NoGrad(); NDArray source = target.getManager().create(values, target.getShape())) {
      target.set(new NDIndex("..."), source); // tensor[...] = source
    }
  }
}
