package io.quarry.bench;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.quarry.worker.hardexamples.HardExampleTracker;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * DjlTrainer's training step (per-sample losses offered to a {@link HardExampleTracker}) reproduced outside the
 * trainer, to time its phases and to try cheaper steps that compute the same thing. Not the real code path: no
 * checkpoints, epoch events or stop checks. Each {@code proto-*} variant changes one thing of {@code proto-replica}
 * (or, {@code proto-lean}, all of them); {@code proto-overhead} ({@code proto-overhead-lean}) is the replica (the lean
 * step) with every other step on DJL's reduced loss offering nothing, as {@code DjlTrainer(config, false)} does, for
 * the cost of per-sample losses and tracking step by step; {@code proto-forward} times the forward pass alone:
 * <ul>
 *   <li>{@code input}: the batch is gathered straight into a direct buffer allocated once, and the NDArrays are made
 *       on it (PyTorch's from_blob, no copy). The replica, as DjlTrainer, gathers into a {@code float[]} and hands
 *       {@code FloatBuffer.wrap(...)} to {@code NDManager.create}, which allocates a new 800 KB direct buffer each
 *       step, copies into it, and leaves it to the garbage collector to free; labels likewise.
 *   <li>{@code loss}: per-sample cross-entropy as {@code -gather(logSoftmax(logits), labels)} (3 tensor ops, one
 *       (n,1) index) instead of {@code -sum(logSoftmax(logits) * oneHot(labels), 1)} (5 ops and an (n,10) one-hot),
 *       and the step's loss summed in Java from the copied losses instead of a second read-back.
 *   <li>{@code sgd}: the SGD update done in place per parameter ({@code w -= lr * g}, then the gradient zeroed),
 *       instead of {@code Trainer.step()}: DJL's LocalParameterServer duplicates every gradient, its native sgdUpdate
 *       clones it again and makes three more passes (weight decay 0 included) before zeroing it.
 * </ul>
 */
final class DjlStepPrototype {
  private static final int BATCH = DjlThroughput.BATCH;
  private static final int CLASSES = 10;
  private static final float LR = 0.01f;
  private static final String[] PHASES = {"batch", "forward", "loss", "backward", "optimizer", "close_and_offer"};

  private static final Loss REDUCED_LOSS = Loss.softmaxCrossEntropyLoss();

  /** The three changes; {@code alternate}: every other step uses DJL's reduced loss and offers nothing. */
  private record Changes(boolean directInput, boolean gatherLoss, boolean inPlaceSgd, boolean alternate) {
    Changes(boolean directInput, boolean gatherLoss, boolean inPlaceSgd) {
      this(directInput, gatherLoss, inPlaceSgd, false);
    }
  }

  private DjlStepPrototype() {}

  static Map<String, Object> run(String variant, BlobData data, int steps, int warmupSteps) {
    if (variant.equals("proto-forward")) return forwardOnly(data, steps, warmupSteps);
    Changes changes = switch (variant) {
      case "proto-replica" -> new Changes(false, false, false);
      case "proto-input" -> new Changes(true, false, false);
      case "proto-loss" -> new Changes(false, true, false);
      case "proto-sgd" -> new Changes(false, false, true);
      case "proto-lean" -> new Changes(true, true, true);
      case "proto-overhead" -> new Changes(false, false, false, true);
      case "proto-overhead-lean" -> new Changes(true, true, true, true);
      default -> throw new IllegalArgumentException("unknown variant '" + variant + "': " + DjlThroughput.VARIANTS);
    };
    int d = data.features();
    int rows = data.rows();
    int stepsPerEpoch = (rows + BATCH - 1) / BATCH;
    HardExampleTracker tracker = new HardExampleTracker("bench-worker", 128, false);
    try (Model model = Model.newInstance("proto-mlp", Device.cpu(), "PyTorch")) {
      model.setBlock(mlp());
      model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, d));
      DefaultTrainingConfig trainingConfig = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
          .optOptimizer(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(LR)).build())
          .optDevices(new Device[] {Device.cpu()});
      try (Trainer trainer = model.newTrainer(trainingConfig)) {
        List<NDArray> weights = model.getBlock().getParameters().values().stream().map(Parameter::getArray).toList();
        long[] sampleIds = new long[BATCH];
        float[] batchX = new float[BATCH * d];
        long[] batchY = new long[BATCH];
        float[] losses = new float[BATCH];
        ByteBuffer xDirect = ByteBuffer.allocateDirect(BATCH * d * Float.BYTES).order(ByteOrder.nativeOrder());
        ByteBuffer yDirect = ByteBuffer.allocateDirect(BATCH * Long.BYTES).order(ByteOrder.nativeOrder());
        FloatBuffer xFloats = xDirect.asFloatBuffer();
        LongBuffer yLongs = yDirect.asLongBuffer();
        SplittableRandom random = new SplittableRandom(7);
        int[] order = null;
        long[] phaseNs = new long[PHASES.length];
        double[] stepMs = new double[steps - warmupSteps];
        double[] perSampleStepMs = new double[(steps - warmupSteps + 1) / 2];
        double[] reducedStepMs = new double[(steps - warmupSteps + 1) / 2];
        int perSampleSteps = 0;
        int reducedSteps = 0;
        int arraysPerStep = 0;
        float stepLoss = Float.NaN;
        long start = 0;
        DjlThroughput.JvmCounters before = null;

        for (int step = 0; step < steps; step++) {
          if (step == warmupSteps) {
            Arrays.fill(phaseNs, 0);
            before = DjlThroughput.JvmCounters.now();
            start = System.nanoTime();
          }
          long t0 = System.nanoTime();
          if (step % stepsPerEpoch == 0) order = shuffled(rows, random);
          int from = (step % stepsPerEpoch) * BATCH;
          int n = Math.min(BATCH, rows - from);
          boolean reducedStep = changes.alternate() && step % 2 == 1;
          boolean gatherLoss = changes.gatherLoss() && !reducedStep;
          long t1;
          long t2;
          long t3;
          long t4;
          long t5;
          try (NDManager batch = trainer.getManager().newSubManager()) {
            NDArray x;
            NDArray y;
            if (changes.directInput()) {
              xFloats.clear();
              yLongs.clear();
              for (int i = 0; i < n; i++) {
                int row = order[from + i];
                sampleIds[i] = row;
                xFloats.put(data.x(), row * d, d);
                yLongs.put(data.y()[row]);
              }
              xDirect.clear().limit(n * d * Float.BYTES);
              yDirect.clear().limit(n * Long.BYTES);
              x = batch.create(xDirect, new Shape(n, d), DataType.FLOAT32);
              y = batch.create(yDirect, gatherLoss ? new Shape(n, 1) : new Shape(n), DataType.INT64);
            } else {
              for (int i = 0; i < n; i++) {
                int row = order[from + i];
                sampleIds[i] = row;
                System.arraycopy(data.x(), row * d, batchX, i * d, d);
                batchY[i] = data.y()[row];
              }
              x = batch.create(FloatBuffer.wrap(batchX, 0, n * d), new Shape(n, d));
              y = batch.create(Arrays.copyOf(batchY, n));
              if (gatherLoss) y = y.reshape(n, 1);
            }
            t1 = System.nanoTime();
            try (GradientCollector collector = trainer.newGradientCollector()) {
              NDArray logits = trainer.forward(new NDList(x)).singletonOrThrow();
              t2 = System.nanoTime();
              NDArray mean;
              if (reducedStep) { // as DjlTrainer(config, false)
                mean = REDUCED_LOSS.evaluate(new NDList(y), new NDList(logits));
                stepLoss = mean.getFloat();
              } else if (gatherLoss) {
                NDArray perSample = logits.logSoftmax(1).gather(y, 1).neg();
                mean = perSample.mean();
                System.arraycopy(perSample.toFloatArray(), 0, losses, 0, n);
                double sum = 0;
                for (int i = 0; i < n; i++) sum += losses[i];
                stepLoss = (float) (sum / n);
              } else {
                NDArray perSample = logits.logSoftmax(1).mul(y.oneHot(CLASSES)).sum(new int[] {1}).neg();
                mean = perSample.mean();
                System.arraycopy(perSample.toFloatArray(), 0, losses, 0, n);
                stepLoss = mean.getFloat();
              }
              t3 = System.nanoTime();
              collector.backward(mean);
              t4 = System.nanoTime();
            }
            if (changes.inPlaceSgd()) {
              for (NDArray w : weights) {
                try (NDArray g = w.getGradient()) {
                  w.subi(g.muli(LR));
                }
                JniUtils.zeroGrad((PtNDArray) w);
              }
            } else {
              trainer.step();
            }
            t5 = System.nanoTime();
            arraysPerStep = batch.getManagedArrays().size();
          }
          if (!reducedStep) {
            synchronized (tracker) {
              tracker.offer(sampleIds, losses, n, step);
            }
          }
          long t6 = System.nanoTime();
          phaseNs[0] += t1 - t0;
          phaseNs[1] += t2 - t1;
          phaseNs[2] += t3 - t2;
          phaseNs[3] += t4 - t3;
          phaseNs[4] += t5 - t4;
          phaseNs[5] += t6 - t5;
          if (step >= warmupSteps) {
            stepMs[step - warmupSteps] = (t6 - t0) / 1e6;
            if (reducedStep) reducedStepMs[reducedSteps++] = (t6 - t0) / 1e6;
            else perSampleStepMs[perSampleSteps++] = (t6 - t0) / 1e6;
          }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        int measured = steps - warmupSteps;
        Map<String, Object> phases = new LinkedHashMap<>();
        for (int i = 0; i < PHASES.length; i++) phases.put(PHASES[i], phaseNs[i] / 1e6 / measured);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("side", "djl");
        out.put("variant", variant);
        out.put("steps", measured);
        out.put("samples", (long) measured * BATCH);
        out.put("seconds", seconds);
        out.put("samples_per_s", measured * BATCH / seconds);
        out.put("step_ms", seconds * 1e3 / measured);
        out.put("median_step_ms", DjlThroughput.Stats.median(stepMs));
        out.put("phase_ms", phases);
        out.put("arrays_per_step", arraysPerStep);
        out.put("final_loss", stepLoss);
        if (changes.alternate()) {
          double perSample = DjlThroughput.Stats.median(Arrays.copyOf(perSampleStepMs, perSampleSteps));
          double reduced = DjlThroughput.Stats.median(Arrays.copyOf(reducedStepMs, reducedSteps));
          out.put("per_sample_median_step_ms", perSample);
          out.put("reduced_median_step_ms", reduced);
          out.put("overhead", (perSample - reduced) / reduced);
        }
        out.putAll(DjlThroughput.JvmCounters.now().minus(before));
        return out;
      }
    }
  }

  /**
   * The model's forward pass alone (no gradient collector) on one fixed batch, the engine's compute without the
   * training loop, and the first layer's GEMM alone (256x784 by 784x256), as {@code torch-forward} does.
   */
  private static Map<String, Object> forwardOnly(BlobData data, int steps, int warmupSteps) {
    int d = data.features();
    try (Model model = Model.newInstance("proto-mlp", Device.cpu(), "PyTorch")) {
      model.setBlock(mlp());
      model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, d));
      DefaultTrainingConfig trainingConfig = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
          .optDevices(new Device[] {Device.cpu()});
      try (Trainer trainer = model.newTrainer(trainingConfig)) {
        ByteBuffer xDirect = ByteBuffer.allocateDirect(BATCH * d * Float.BYTES).order(ByteOrder.nativeOrder());
        xDirect.asFloatBuffer().put(data.x(), 0, BATCH * d);
        NDArray w1 = model.getBlock().getParameters().valueAt(0).getArray();
        NDArray w1t = w1.transpose().duplicate();
        double[] stepMs = new double[steps - warmupSteps];
        double[] perSampleStepMs = new double[(steps - warmupSteps + 1) / 2];
        double[] reducedStepMs = new double[(steps - warmupSteps + 1) / 2];
        int perSampleSteps = 0;
        int reducedSteps = 0;
        long forwardNs = 0;
        long gemmNs = 0;
        long start = 0;
        for (int step = 0; step < steps; step++) {
          if (step == warmupSteps) {
            forwardNs = 0;
            gemmNs = 0;
            start = System.nanoTime();
          }
          try (NDManager batch = trainer.getManager().newSubManager()) {
            NDArray x = batch.create(xDirect, new Shape(BATCH, d), DataType.FLOAT32);
            long t0 = System.nanoTime();
            trainer.evaluate(new NDList(x));
            long t1 = System.nanoTime();
            x.matMul(w1t);
            long t2 = System.nanoTime();
            forwardNs += t1 - t0;
            gemmNs += t2 - t1;
            if (step >= warmupSteps) stepMs[step - warmupSteps] = (t1 - t0) / 1e6;
          }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        int measured = steps - warmupSteps;
        Map<String, Object> phases = new LinkedHashMap<>();
        phases.put("forward", forwardNs / 1e6 / measured);
        phases.put("gemm_784x256", gemmNs / 1e6 / measured);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("side", "djl");
        out.put("variant", "proto-forward");
        out.put("steps", measured);
        out.put("samples", (long) measured * BATCH);
        out.put("seconds", seconds);
        out.put("samples_per_s", measured * BATCH / seconds);
        out.put("step_ms", seconds * 1e3 / measured);
        out.put("median_step_ms", DjlThroughput.Stats.median(stepMs));
        out.put("phase_ms", phases);
        return out;
      }
    }
  }

  private static SequentialBlock mlp() {
    SequentialBlock block = new SequentialBlock();
    for (int units : new int[] {256, 128}) {
      block.add(Linear.builder().setUnits(units).build());
      block.add(Activation::relu);
    }
    block.add(Linear.builder().setUnits(CLASSES).build());
    return block;
  }

  private static int[] shuffled(int count, SplittableRandom random) {
    int[] order = new int[count];
    for (int i = 0; i < count; i++) order[i] = i;
    for (int i = count - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    return order;
  }
}
