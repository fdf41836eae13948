package io.quarry.djl;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.loss.Loss;
import ai.djl.util.Pair;
import io.quarry.config.RunConfig;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.checkpoint.CheckpointException;
import io.quarry.worker.checkpoint.CheckpointManifest;
import io.quarry.worker.checkpoint.CheckpointStore;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.telemetry.TelemetryEmitter;
import io.quarry.worker.trainer.GradientRound;
import io.quarry.worker.trainer.Payload;
import io.quarry.worker.trainer.PayloadRenderer;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerContext;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The DJL trainer ({@code trainer = djl}): a model ({@code model.type} mlp or cnn, {@link Models}) trained with Deep
 * Java Library's PyTorch engine on CPU, on the shard's slice of the training split of {@code dataset.*}
 * ({@link PreparedData}).
 *
 * <p>Every shard of a run starts from the same parameters, drawn from the seed. A shard of {@code n} samples takes
 * {@code ceil(n / batch-size)} steps per epoch, visiting its samples in a seeded order per epoch (or in sample order
 * with {@code dataset.shuffle = false}). Each step computes the logits, the unreduced per-sample cross-entropy (from
 * the log-softmax of the logits: DJL's losses reduce) and the predicted classes, offers them to the hard-example sink,
 * back-propagates the mean and steps the optimizer ({@link ParameterUpdater}) at the scheduled learning rate
 * ({@link LearningRate}). With {@code sync.mode = average} every {@code sync.every} steps (and at the shard's last
 * step) the parameters go to the coordinator and the shard continues from the run's average. Each epoch ends with
 * telemetry's epoch event and an evaluation on the whole validation split (loss and accuracy). A checkpoint is
 * written every {@code checkpoint.every-steps} and at each epoch end: the parameters ({@value #PARAMS_FILE}) and the
 * optimizer's state ({@value #OPTIMIZER_FILE}), before the manifest, whose extra names them; the checkpoint store
 * keeps {@code last} and {@code best} (lowest validation loss). Resuming restores parameters, optimizer state and
 * position, so a resumed shard continues as if never interrupted.
 *
 * <p>DJL's PyTorch engine allows only one collecting {@link GradientCollector} per JVM ("A PtGradientCollector is
 * already collecting"), so every training step holds the JVM-wide {@link #STEP_LOCK}: several DJL workers in one JVM
 * (a local cluster) take turns step by step. Evaluation and averaging need no collector and run outside the lock.
 */
public final class DjlTrainer implements Trainer {
  public static final String NAME = "djl";
  static final String PARAMS_FILE = "model.params";
  static final String OPTIMIZER_FILE = "optimizer.state";
  static final String EXTRA_PARAMS = "djl.params";
  static final String EXTRA_OPTIMIZER = "djl.optimizer";
  static final String EXTRA_STEPS_PER_EPOCH = "djl.steps-per-epoch";
  static final String EXTRA_VAL_ACCURACY = "djl.val-accuracy";
  private static final int EVAL_BATCH = 512;
  private static final long ORDER_SALT = 0x0D3E_12L;

  /** An attempt fails when this many all-reduce rounds in a row abort (it never hangs, nor spins forever). */
  private static final int MAX_ABORTED_ROUNDS = 50;

  /** One training step at a time in this JVM: DJL allows a single active gradient collector. */
  static final ReentrantLock STEP_LOCK = new ReentrantLock();

  private final RunConfig config;
  private final DjlSettings djl;
  private final boolean perSampleLosses;

  public DjlTrainer(RunConfig config) {
    this(config, true);
  }

  /**
   * @param perSampleLosses false only to measure what per-sample losses cost (bench/): each step then computes the
   *     same cross-entropy but reads back only its mean (not the losses and predicted classes) and offers nothing to
   *     the hard-example tracker
   */
  public DjlTrainer(RunConfig config, boolean perSampleLosses) {
    this.config = config;
    this.djl = DjlSettings.of(config);
    this.perSampleLosses = perSampleLosses;
  }

  @Override
  public ShardResult train(TrainerContext context) throws Exception {
    ShardAssignment assignment = context.assignment();
    int shard = assignment.shard();
    PreparedData data = PreparedData.of(config);
    long first = assignment.firstSample();
    int count = (int) assignment.sampleCount();
    if (count < 1 || first < 0 || first + count > data.train().rows()) {
      throw new IllegalArgumentException("shard " + shard + " holds samples [" + first + ", " + (first + count)
          + "), but the training split of " + data.train().source() + " has " + data.train().rows());
    }
    int batchSize = config.batchSize;
    long stepsPerEpoch = (count + batchSize - 1) / batchSize;
    long totalSteps = stepsPerEpoch * config.epochs;
    LearningRate schedule = LearningRate.of(config, totalSteps);
    int d = data.features();
    int classes = data.classes();

    HardExampleSink hardExamples = context.hardExamples();
    context.payloads(payloadRenderer(data));
    TelemetryEmitter telemetry = context.telemetry();
    CheckpointStore store = context.checkpointStore();

    Device device = device(context.device());
    try (Model model = Model.newInstance("quarry-" + djl.model().type(), device, "PyTorch")) {
      Block block = Models.build(djl.model(), data);
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, Models.batchShape(djl.model(), data, 1));
      Models.initialise(block, config.seed);
      List<Pair<String, Parameter>> parameters = new ArrayList<>();
      for (Pair<String, Parameter> p : block.getParameters()) parameters.add(p);
      long step = 0;
      double lastValLoss = Double.NaN;
      float lastValAccuracy = Float.NaN;
      CheckpointManifest resumed = null;
      if (context.resumeFrom().isPresent()) {
        // Before the trainer exists: its parameter store holds on to the arrays it first sees.
        Path checkpoint = context.resumeFrom().get();
        resumed = checkResume(checkpoint, shard, stepsPerEpoch, totalSteps);
        Path params = checkpoint.resolve(resumed.extra().get(EXTRA_PARAMS));
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(params)))) {
          block.loadParameters(model.getNDManager(), in);
        } catch (IOException | RuntimeException e) {
          throw new CheckpointException("cannot resume shard " + shard + ": " + params + " does not hold this model's "
              + "parameters (" + e.getMessage() + ")", e);
        }
        step = resumed.step();
        lastValLoss = resumed.valLoss();
        String accuracy = resumed.extra().get(EXTRA_VAL_ACCURACY);
        if (accuracy != null) lastValAccuracy = Float.parseFloat(accuracy);
      } else if (context.initFrom().isPresent()) {
        // init.from: another run's parameters, from step 0 with a fresh optimizer (fine-tuning).
        Path params = context.initFrom().get().resolve(PARAMS_FILE);
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(params)))) {
          block.loadParameters(model.getNDManager(), in);
        } catch (IOException | RuntimeException | ai.djl.MalformedModelException e) {
          throw new CheckpointException("init.from = " + config.initFrom + ": " + params + " does not hold this "
              + "model's parameters (" + e.getMessage() + "); allowed: a run of the same model.* and dataset", e);
        }
      }
      // DJL's trainer wants a loss; the steps compute their own (perSampleCrossEntropy) and never call it.
      DefaultTrainingConfig trainingConfig =
          new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss()).optDevices(new Device[] {device});
      try (ai.djl.training.Trainer trainer = model.newTrainer(trainingConfig)) {
        for (Pair<String, Parameter> p : parameters) {
          NDArray array = p.getValue().getArray();
          if (!array.hasGradient()) array.setRequiresGradient(true); // loaded arrays come without
        }
        ParameterUpdater updater = new ParameterUpdater(config, parameters, model.getNDManager());
        if (resumed != null) {
          Path state = context.resumeFrom().get().resolve(resumed.extra().get(EXTRA_OPTIMIZER));
          try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(state)))) {
            updater.load(in, state.toString());
          } catch (java.io.EOFException e) {
            throw new CheckpointException("cannot resume shard " + shard + ": " + state + " is truncated", e);
          } catch (IOException e) {
            throw new CheckpointException("cannot resume shard " + shard + ": " + e.getMessage(), e);
          }
        }
        int rows = Math.min(batchSize, count);
        long[] sampleIds = new long[rows];
        int[] labels = new int[rows];
        int[] predicted = new int[rows];
        float[] losses = new float[rows];
        DirectBatch buffers = new DirectBatch(rows, d);
        int[] order = null;
        int orderEpoch = -1;
        long stepsTrained = 0;
        long samplesTrained = 0;
        float finalLoss = Float.NaN;
        double epochLossSum = 0; // over the steps of this attempt in the current epoch
        long epochSteps = 0;
        long lastEmitNs = System.nanoTime();
        long samplesSinceEmit = 0;
        long syncEvery = config.sync.every();
        // sync.mode = allreduce: gradients averaged across the shards every step, before the optimizer step.
        boolean allReduce = config.sync.allReduce() && context.assignment().shards() > 1;
        int abortedInARow = 0;

        while (step < totalSteps) {
          if (context.stopRequested()) return new ShardResult(step, stepsTrained, samplesTrained, finalLoss, true);
          int epoch = (int) (step / stepsPerEpoch);
          if (epoch != orderEpoch) {
            order = djl.dataset().shuffle() ? epochOrder(count, config.seed, shard, epoch) : inOrder(count);
            orderEpoch = epoch;
          }
          int from = (int) ((step % stepsPerEpoch) * batchSize);
          int n = Math.min(batchSize, count - from);
          buffers.clear();
          for (int i = 0; i < n; i++) {
            int row = (int) first + order[from + i];
            sampleIds[i] = row;
            labels[i] = data.train().y()[row];
            buffers.add(data.train().x(), row, labels[i]);
          }
          float lr = schedule.at(step);
          float stepLoss;
          STEP_LOCK.lockInterruptibly();
          try (NDManager batch = trainer.getManager().newSubManager()) {
            NDArray input = buffers.inputs(batch, Models.batchShape(djl.model(), data, n));
            NDArray y = buffers.labels(batch);
            try (GradientCollector collector = trainer.newGradientCollector()) {
              NDArray logits = trainer.forward(new NDList(input)).singletonOrThrow();
              NDArray mean;
              if (perSampleLosses) {
                NDArray perSample = perSampleCrossEntropy(logits, y, classes);
                mean = perSample.mean();
                // Two reads out of libtorch per step; the step's loss is the mean of what was read (no third).
                perSample.toByteBuffer().asFloatBuffer().get(losses, 0, n);
                double sum = 0;
                for (int i = 0; i < n; i++) sum += losses[i];
                stepLoss = (float) (sum / n);
                LongBuffer argMax = logits.argMax(1).toByteBuffer().asLongBuffer();
                for (int i = 0; i < n; i++) predicted[i] = (int) argMax.get(i);
              } else { // the same loss, only its mean read back, nothing offered
                mean = perSampleCrossEntropy(logits, y, classes).mean();
                stepLoss = mean.getFloat();
              }
              collector.backward(updater.lossToBackward(mean, lr));
            }
            if (!allReduce) updater.step(lr);
          } finally {
            STEP_LOCK.unlock();
          }
          if (allReduce) {
            // Outside the step lock: the other workers of this JVM must reach the same round.
            float[] gradients = Gradients.flatten(parameters);
            GradientRound round = context.allReduceGradients(step, gradients, () -> Models.flatten(parameters));
            if (round.parameters() != null) Models.assign(parameters, round.parameters());
            if (!round.step()) {
              // Aborted (a member lost mid-round): no update, so every member keeps its pre-round parameters; the
              // same batch is trained again on the next ring.
              Gradients.zero(parameters);
              if (++abortedInARow >= MAX_ABORTED_ROUNDS) {
                throw new IllegalStateException(abortedInARow + " all-reduce rounds in a row aborted at step " + step
                    + " of shard " + shard + " (the worker log says why); allowed: sync.timeout long enough for a "
                    + "round, and workers that can reach each other's data plane (quarry.worker.data-plane)");
              }
              continue;
            }
            abortedInARow = 0;
            Gradients.assign(parameters, gradients);
            updater.step(lr);
          }
          if (perSampleLosses) hardExamples.offer(sampleIds, losses, labels, predicted, n, step);

          stepsTrained++;
          samplesTrained += n;
          samplesSinceEmit += n;
          finalLoss = stepLoss;
          epochLossSum += stepLoss;
          epochSteps++;
          if (step % config.telemetry.everySteps() == 0) {
            long now = System.nanoTime();
            float samplesPerSec = now > lastEmitNs ? (float) (samplesSinceEmit * 1e9 / (now - lastEmitNs)) : 0f;
            telemetry.step(step, epoch, stepLoss, lr, samplesPerSec);
            lastEmitNs = now;
            samplesSinceEmit = 0;
          }

          long next = step + 1;
          if (config.sync.average() && (next % syncEvery == 0 || next == totalSteps)) {
            // Outside the step lock: the other workers of this JVM must reach the same round.
            float[] average = context.averageParameters((next + syncEvery - 1) / syncEvery, Models.flatten(parameters));
            Models.assign(parameters, average);
          }
          boolean epochEnd = next % stepsPerEpoch == 0;
          if (epochEnd) {
            telemetry.epoch(step, epoch, (float) (epochLossSum / Math.max(1, epochSteps)));
            float[] eval = evaluate(trainer, data, djl.model(), classes);
            telemetry.eval(step, epoch, eval[0], eval[1]);
            lastValLoss = eval[0];
            lastValAccuracy = eval[1];
            epochLossSum = 0;
            epochSteps = 0;
          }
          if (epochEnd || next % config.checkpointEverySteps == 0) {
            Map<String, String> extra = new java.util.TreeMap<>(Map.of(EXTRA_PARAMS, PARAMS_FILE,
                EXTRA_OPTIMIZER, OPTIMIZER_FILE, EXTRA_STEPS_PER_EPOCH, Long.toString(stepsPerEpoch)));
            // Every checkpoint carries the last evaluation, as the manifest's val loss does: a shard resumed from a
            // mid-epoch checkpoint still reports both at its end.
            if (!Float.isNaN(lastValAccuracy)) extra.put(EXTRA_VAL_ACCURACY, Float.toString(lastValAccuracy));
            CheckpointManifest manifest = new CheckpointManifest(next, (int) (next / stepsPerEpoch), next % stepsPerEpoch,
                0L, lastValLoss, NAME, System.currentTimeMillis(), extra);
            Path saved = store.save(manifest, dir -> {
              try (DataOutputStream out = new DataOutputStream(
                  new BufferedOutputStream(Files.newOutputStream(dir.resolve(PARAMS_FILE))))) {
                block.saveParameters(out);
              }
              try (DataOutputStream out = new DataOutputStream(
                  new BufferedOutputStream(Files.newOutputStream(dir.resolve(OPTIMIZER_FILE))))) {
                updater.save(out);
              }
            });
            context.checkpointSaved(next, saved);
          }
          step = next;
        }
        return new ShardResult(step, stepsTrained, samplesTrained, finalLoss, false, (float) lastValLoss, lastValAccuracy);
      }
    }
  }

  /**
   * The payload of a merged hard example: a PNG thumbnail (at most 64×64) of an image, or the leading raw features of
   * a tabular sample. Reads only the run's prepared data, which outlives the attempt, as the renderer must.
   */
  static PayloadRenderer payloadRenderer(PreparedData data) {
    return sampleId -> {
      if (sampleId < 0 || sampleId >= data.train().rows()) return null;
      int row = (int) sampleId;
      return data.images()
          ? Payload.png(data.thumbnailPng(row))
          : new Payload.Features(data.leadingFeatures(row, Payload.MAX_FEATURES));
    };
  }

  /**
   * The DJL device of a worker's device name: {@code cpu}, or {@code gpu:N} when libtorch sees that GPU (a CUDA build
   * of libtorch through {@code PYTORCH_LIBRARY_PATH}; see the README).
   */
  static Device device(String name) {
    if (name == null || name.equals("cpu") || name.startsWith("cpu")) return Device.cpu();
    if (name.startsWith("gpu:")) {
      int index = Integer.parseInt(name.substring(4));
      int visible = Engine.getEngine("PyTorch").getGpuCount();
      if (index >= visible) {
        throw new IllegalStateException("device " + name + ": the PyTorch engine sees " + visible + " GPU(s); it needs a CUDA "
            + "build of libtorch 2.7.1 (PYTORCH_LIBRARY_PATH, PYTORCH_VERSION=2.7.1, PYTORCH_FLAVOR=cu128; see the README)");
      }
      return Device.gpu(index);
    }
    throw new IllegalArgumentException("device '" + name + "': allowed: cpu or gpu:N");
  }

  /**
   * The parameters a checkpoint of this trainer holds, flattened in the model's parameter order (the order averaging
   * uses): for tools and tests that compare or export a run's model.
   */
  public static float[] savedParameters(RunConfig config, Path checkpoint) throws IOException {
    PreparedData data = PreparedData.of(config);
    try (Model model = Model.newInstance("quarry-saved", Device.cpu(), "PyTorch")) {
      Block block = Models.build(DjlSettings.of(config).model(), data);
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, Models.batchShape(DjlSettings.of(config).model(), data, 1));
      Path params = checkpoint.resolve(PARAMS_FILE);
      try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(params)))) {
        block.loadParameters(model.getNDManager(), in);
      } catch (ai.djl.MalformedModelException e) {
        throw new IOException(params + " does not hold this model's parameters: " + e.getMessage(), e);
      }
      List<Pair<String, Parameter>> parameters = new ArrayList<>();
      for (Pair<String, Parameter> p : block.getParameters()) parameters.add(p);
      return Models.flatten(parameters);
    }
  }

  /** Cross-entropy of each row of {@code logits} against {@code labels} (int64), unreduced: shape (n). */
  static NDArray perSampleCrossEntropy(NDArray logits, NDArray labels, int classes) {
    NDArray logProbs = logits.logSoftmax(1);
    // One gather of each row's label column (a one-hot product would add three ops to the graph).
    return logProbs.gather(labels.reshape(labels.size(), 1), 1).reshape(labels.size()).neg();
  }

  /** Mean loss and accuracy over the validation split; {NaN, NaN} when it is empty. */
  static float[] evaluate(ai.djl.training.Trainer trainer, PreparedData data, DjlSettings.Model model, int classes) {
    try (NoGrad off = new NoGrad()) { // no graph for a forward pass nobody back-propagates
      return evaluateWithoutGrad(trainer, data, model, classes);
    }
  }

  private static float[] evaluateWithoutGrad(ai.djl.training.Trainer trainer, PreparedData data, DjlSettings.Model model,
      int classes) {
    TabularData val = data.val();
    int rows = val.rows();
    if (rows == 0) return new float[] {Float.NaN, Float.NaN};
    int d = val.features();
    double lossSum = 0;
    long correct = 0;
    DirectBatch buffers = new DirectBatch(Math.min(EVAL_BATCH, rows), d);
    for (int from = 0; from < rows; from += EVAL_BATCH) {
      int n = Math.min(EVAL_BATCH, rows - from);
      buffers.clear();
      for (int i = 0; i < n; i++) buffers.add(val.x(), from + i, val.y()[from + i]);
      try (NDManager batch = trainer.getManager().newSubManager()) {
        NDArray x = buffers.inputs(batch, Models.batchShape(model, data, n));
        NDArray y = buffers.labels(batch);
        NDArray logits = trainer.evaluate(new NDList(x)).singletonOrThrow();
        lossSum += perSampleCrossEntropy(logits, y, classes).sum().getFloat();
        correct += logits.argMax(1).eq(y).sum().getLong();
      }
    }
    return new float[] {(float) (lossSum / rows), (float) correct / rows};
  }

  /**
   * A batch's inputs and labels in native-ordered direct memory, allocated once and refilled for every batch: an
   * NDArray made on a direct {@link ByteBuffer} shares its memory (libtorch's from_blob), where one made from a heap
   * array or any other buffer gets a new direct buffer each time, which only the garbage collector's cleaners free
   * (stalls, and gigabytes of direct memory at a few hundred steps per second). An array made here reads the buffer
   * until it is closed, so refill only after the batch's manager is closed.
   */
  static final class DirectBatch {
    private final int features;
    private final ByteBuffer inputBytes;
    private final FloatBuffer inputs;
    private final ByteBuffer labelBytes;
    private final LongBuffer labels;
    private int rows;

    DirectBatch(int capacity, int features) {
      this.features = features;
      this.inputBytes = ByteBuffer.allocateDirect(capacity * features * Float.BYTES).order(ByteOrder.nativeOrder());
      this.inputs = inputBytes.asFloatBuffer();
      this.labelBytes = ByteBuffer.allocateDirect(capacity * Long.BYTES).order(ByteOrder.nativeOrder());
      this.labels = labelBytes.asLongBuffer();
    }

    void clear() {
      inputs.clear();
      labels.clear();
      rows = 0;
    }

    /** Appends row {@code row} of the row-major matrix {@code x} and its label. */
    void add(float[] x, int row, int label) {
      inputs.put(x, row * features, features);
      labels.put(label);
      rows++;
    }

    NDArray inputs(NDManager manager, Shape shape) {
      inputBytes.clear().limit(rows * features * Float.BYTES);
      return manager.create(inputBytes, shape, DataType.FLOAT32);
    }

    /** The labels, int64, shape (rows). */
    NDArray labels(NDManager manager) {
      labelBytes.clear().limit(rows * Long.BYTES);
      return manager.create(labelBytes, new Shape(rows), DataType.INT64);
    }
  }

  /** The visiting order of a shard's positions 0..count-1 in {@code epoch}: a seeded shuffle. */
  static int[] epochOrder(int count, long seed, int shard, int epoch) {
    SplittableRandom random = new SplittableRandom(seed ^ ORDER_SALT ^ ((long) shard << 32) ^ ((long) epoch * 0x9E3779B97F4A7C15L));
    int[] order = inOrder(count);
    for (int i = count - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    return order;
  }

  private static int[] inOrder(int count) {
    int[] order = new int[count];
    for (int i = 0; i < count; i++) order[i] = i;
    return order;
  }

  private static CheckpointManifest checkResume(Path checkpoint, int shard, long stepsPerEpoch, long totalSteps) {
    CheckpointManifest manifest = CheckpointStore.load(checkpoint).orElseThrow(() -> new CheckpointException(
        "cannot resume shard " + shard + " from " + checkpoint + ": it has no " + CheckpointStore.MANIFEST));
    String where = "cannot resume shard " + shard + " from " + checkpoint.resolve(CheckpointStore.MANIFEST) + ": ";
    if (!NAME.equals(manifest.trainer())) {
      throw new CheckpointException(where + "it was written by trainer '" + manifest.trainer() + "', not '" + NAME + "'");
    }
    String written = manifest.extra().get(EXTRA_STEPS_PER_EPOCH);
    if (written != null && !written.equals(Long.toString(stepsPerEpoch))) {
      throw new CheckpointException(where + "it was written with " + written + " steps per epoch, this run has "
          + stepsPerEpoch + " (batch-size or the shard's samples changed)");
    }
    for (String key : List.of(EXTRA_PARAMS, EXTRA_OPTIMIZER)) {
      String file = manifest.extra().get(key);
      if (file == null || !Files.isRegularFile(checkpoint.resolve(file))) {
        throw new CheckpointException(where + "its file extra." + key + " = " + file + " is missing");
      }
    }
    if (manifest.step() > totalSteps) {
      throw new CheckpointException(where + "step " + manifest.step() + " is past this shard's " + totalSteps + " steps");
    }
    return manifest;
  }

  @Override
  public String toString() {
    return "DjlTrainer[" + djl.model().type() + ", optimizer=" + djl.optimizer().type() + "]";
  }
}
