package io.quarry.djl;

import ai.djl.pytorch.jni.JniUtils;

/**
 * libtorch's grad mode off on this thread until closed, then as it was: {@code try (NoGrad off = new NoGrad()) {...}}.
 * The mode is per thread and on by default; DJL turns it off only on the thread that loaded the engine, and a gradient
 * collector restores on close what it found, so a worker's training thread has it on outside a step. With it on,
 * in-place updates of parameters fail ("a leaf Variable that requires grad is being used in an in-place operation")
 * and a forward pass records a graph nobody back-propagates.
 */
final class NoGrad implements AutoCloseable {
  private final boolean previous;

  NoGrad() {
    previous = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
  }

  @Override
  public void close() {
    JniUtils.setGradMode(previous);
  }
}
