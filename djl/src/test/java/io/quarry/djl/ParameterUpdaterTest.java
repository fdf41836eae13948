package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.util.Pair;
import io.quarry.config.RunConfig;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The optimizer's arithmetic against torch.optim's update rules written out in Java (double precision): a parameter
 * with a known gradient per step (the gradient of {@code sum(w * c)} is {@code c}), three steps with a changing
 * learning rate, so that SGD's momentum units and Adam's bias correction both show.
 */
class ParameterUpdaterTest {
  private static final float[] W0 = {1.0f, -2.0f, 0.5f, 3.0f};
  private static final float[][] GRADS = {{0.5f, -1.0f, 2.0f, 0.0f}, {0.25f, 0.75f, -0.5f, 1.0f}, {-1.0f, 0.1f, 0.3f, -2.0f}};
  private static final float[] LRS = {0.1f, 0.05f, 0.2f};
  private static final float TOLERANCE = 2e-6f;

  private static RunConfig config(String... overrides) {
    List<String> all = new java.util.ArrayList<>(List.of("trainer=djl", "dataset.synthetic=blobs", "model.type=mlp"));
    all.addAll(List.of(overrides));
    return RunConfig.fromOverrides(all, Map.of());
  }

  /** The weights after each step, and the optimizer's saved state after the last. */
  private record Trained(float[][] weights, byte[] state) {}

  private static Trained train(RunConfig config) throws java.io.IOException {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      NDArray w = manager.create(W0.clone());
      w.setRequiresGradient(true);
      Parameter parameter = Parameter.builder().setName("w").setType(Parameter.Type.WEIGHT).optArray(w).build();
      ParameterUpdater updater = new ParameterUpdater(config, List.of(new Pair<>("w", parameter)), manager);
      float[][] after = new float[GRADS.length][];
      for (int s = 0; s < GRADS.length; s++) {
        try (NDManager step = manager.newSubManager(); GradientCollector collector = manager.getEngine().newGradientCollector()) {
          NDArray loss = w.mul(step.create(GRADS[s])).sum();
          collector.backward(updater.lossToBackward(loss, LRS[s]));
        }
        updater.step(LRS[s]);
        after[s] = w.toFloatArray();
        assertArrayEquals(new float[W0.length], w.getGradient().toFloatArray(), "the gradient is zeroed after a step");
      }
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (DataOutputStream out = new DataOutputStream(bytes)) {
        updater.save(out);
      }
      return new Trained(after, bytes.toByteArray());
    }
  }

  /** torch.optim.SGD: g += wd·w; buf = momentum·buf + g (buf = g at the first step); w -= lr·buf. */
  private static double[][] sgd(double momentum, double wd) {
    double[] w = toDouble(W0);
    double[] buf = null;
    double[][] after = new double[GRADS.length][];
    for (int s = 0; s < GRADS.length; s++) {
      double[] g = toDouble(GRADS[s]);
      for (int i = 0; i < w.length; i++) g[i] += wd * w[i];
      if (momentum != 0) {
        if (buf == null) buf = new double[w.length]; // zeros: buf = momentum·0 + g = g, as torch's first step
        for (int i = 0; i < w.length; i++) buf[i] = momentum * buf[i] + g[i];
        g = buf;
      }
      for (int i = 0; i < w.length; i++) w[i] -= LRS[s] * g[i];
      after[s] = w.clone();
    }
    return after;
  }

  /** Adam (Kingma and Ba, as torch.optim.Adam): L2 weight decay in the gradient; AdamW: decoupled, w -= lr·wd·w. */
  private static double[][] adam(double wd, boolean decoupled) {
    double b1 = 0.9;
    double b2 = 0.999;
    double eps = 1e-8;
    double[] w = toDouble(W0);
    double[] m = new double[w.length];
    double[] v = new double[w.length];
    double[][] after = new double[GRADS.length][];
    for (int s = 0; s < GRADS.length; s++) {
      int t = s + 1;
      double lr = LRS[s];
      double[] g = toDouble(GRADS[s]);
      for (int i = 0; i < w.length; i++) {
        if (decoupled) w[i] -= lr * wd * w[i];
        else g[i] += wd * w[i];
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        double mHat = m[i] / (1 - Math.pow(b1, t));
        double vHat = v[i] / (1 - Math.pow(b2, t));
        w[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
      }
      after[s] = w.clone();
    }
    return after;
  }

  private static double[] toDouble(float[] values) {
    double[] out = new double[values.length];
    for (int i = 0; i < values.length; i++) out[i] = values[i];
    return out;
  }

  private static void assertClose(double[][] expected, float[][] actual, String what) {
    for (int s = 0; s < expected.length; s++) {
      for (int i = 0; i < expected[s].length; i++) {
        assertEquals(expected[s][i], actual[s][i], TOLERANCE, what + ": step " + (s + 1) + ", weight " + i);
      }
    }
  }

  @Test
  void plainSgd() throws Exception {
    assertClose(sgd(0, 0), train(config("optimizer.type=sgd", "optimizer.momentum=0")).weights(), "sgd");
  }

  @Test
  void sgdWithMomentumAndWeightDecayFollowsTorchOptimSgd() throws Exception {
    // The momentum buffer holds gradients, not lr-scaled steps: with a learning rate that changes, the two differ.
    assertClose(sgd(0.9, 0.01), train(config("optimizer.type=sgd", "optimizer.momentum=0.9",
        "optimizer.weight-decay=0.01")).weights(), "sgd, momentum 0.9, weight decay 0.01");
  }

  @Test
  void sgdUpdatesOnAThreadWhereLibtorchStillRecordsGradients() throws Exception {
    // libtorch's grad mode is per thread and on by default; DJL turns it off only on the thread that loaded the engine,
    // and a gradient collector restores what it found. A worker's training thread is a fresh one.
    java.util.concurrent.atomic.AtomicReference<Object> outcome = new java.util.concurrent.atomic.AtomicReference<>();
    Thread thread = new Thread(() -> {
      try {
        outcome.set(train(config("optimizer.type=sgd", "optimizer.momentum=0.9")).weights());
      } catch (Throwable t) {
        outcome.set(t);
      }
    });
    thread.start();
    thread.join();
    if (outcome.get() instanceof Throwable t) throw new AssertionError("the update failed on a fresh thread", t);
    assertClose(sgd(0.9, 0), (float[][]) outcome.get(), "sgd on a fresh thread");
  }

  @Test
  void adam() throws Exception {
    assertClose(adam(0, false), train(config("optimizer.type=adam")).weights(), "adam");
  }

  @Test
  void adamWithWeightDecayAddsItToTheGradient() throws Exception {
    assertClose(adam(0.01, false), train(config("optimizer.type=adam", "optimizer.weight-decay=0.01")).weights(), "adam, wd");
  }

  @Test
  void adamwDecouplesTheWeightDecay() throws Exception {
    assertClose(adam(0.01, true), train(config("optimizer.type=adamw", "optimizer.weight-decay=0.01")).weights(), "adamw");
  }

  @Test
  void theSavedStateRestoresTheUpdateCountAndRefusesAnotherOptimizer() throws Exception {
    byte[] state = train(config("optimizer.type=adam")).state();
    RunConfig adam = config("optimizer.type=adam");
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      NDArray w = manager.create(W0.clone());
      Parameter parameter = Parameter.builder().setName("w").setType(Parameter.Type.WEIGHT).optArray(w).build();
      ParameterUpdater restored = new ParameterUpdater(adam, List.of(new Pair<>("w", parameter)), manager);
      restored.load(new DataInputStream(new ByteArrayInputStream(state)), "state");
      assertEquals(GRADS.length, restored.updates());

      ParameterUpdater sgd = new ParameterUpdater(config("optimizer.type=sgd", "optimizer.momentum=0.9"),
          List.of(new Pair<>("w", parameter)), manager);
      java.io.IOException e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
          () -> sgd.load(new DataInputStream(new ByteArrayInputStream(state)), "state.bin"));
      assertEquals("state.bin: written by optimizer 'adam', this run uses 'sgd'", e.getMessage());
    }
  }
}
