package io.quarry.bench;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import io.quarry.config.RunConfig;
import io.quarry.djl.DjlTrainer;
import io.quarry.protocol.RunCommand;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.hardexamples.HardExampleTracker;
import io.quarry.worker.telemetry.TelemetryEmitter;
import io.quarry.worker.trainer.ForwardingTrainerContext;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.TestTrainerContext;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The DJL side of {@code bench/djl-vs-pytorch.sh}: DJL training throughput of an MLP 784-256-128-10 at batch 256
 * with plain SGD, through the real code path ({@link DjlTrainer#train}), and the engine's forward pass alone.
 *
 * <p>Usage: {@code DjlThroughput DATA_DIR STEPS WARMUP_STEPS}, where DATA_DIR holds what {@code bench/pytorch_mlp.py
 * make-data} wrote. Threads come from {@code -Dai.djl.pytorch.num_threads} / {@code num_interop_threads}. It prints
 * {@code READY {json}} (versions, threads), then for each line on standard input naming a variant trains STEPS steps
 * and prints {@code RESULT {json}}: samples/s over the steps after the first WARMUP_STEPS, from the wall clock.
 *
 * <p>Variants: {@code trainer} ({@code new DjlTrainer(config, true)}: per-sample losses offered to a real
 * {@link HardExampleTracker}, as a worker does), {@code trainer-reduced} ({@code new DjlTrainer(config, false)}: the
 * same loss, only its mean read back, nothing offered), {@code trainer-pairs} (the two alternated in short calls, for
 * the cost of per-sample losses and tracking) and {@code djl-forward} (the model's forward pass alone, no autograd, and the first layer's GEMM
 * alone: what the engine computes, without the training loop).
 */
public final class DjlThroughput {
  static final int BATCH = 256;
  private static final int CLASSES = 10;
  static final String VARIANTS = "trainer, trainer-reduced, trainer-pairs, djl-forward";
  /** trainer-pairs: pairs per round, epochs per call, and the steps at the start of each call that are not timed. */
  private static final int PAIRS = 8;
  private static final int PAIR_EPOCHS = 2;
  private static final int PAIR_SKIP_STEPS = 16;
  private static final int K = 128;

  private DjlThroughput() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: DjlThroughput DATA_DIR STEPS WARMUP_STEPS");
      System.exit(2);
    }
    Path dataDir = Path.of(args[0]);
    int steps = Integer.parseInt(args[1]);
    int warmupSteps = Integer.parseInt(args[2]);
    BlobData data = BlobData.load(dataDir);
    int stepsPerEpoch = (data.rows() + BATCH - 1) / BATCH;
    if (steps % stepsPerEpoch != 0 || warmupSteps < 1 || warmupSteps >= steps) {
      throw new IllegalArgumentException("STEPS " + steps + " must be a whole number of epochs of " + stepsPerEpoch
          + " steps (DjlTrainer trains whole epochs) and WARMUP_STEPS " + warmupSteps + " in 1 .. STEPS-1");
    }
    RunConfig config = config(dataDir, steps / stepsPerEpoch);
    RunConfig pairConfig = config(dataDir, PAIR_EPOCHS);

    Engine engine = Engine.getEngine("PyTorch");
    Map<String, Object> ready = new LinkedHashMap<>();
    ready.put("side", "djl");
    ready.put("engine", engine.getEngineName() + " " + engine.getVersion());
    ready.put("djl", Engine.getDjlVersion());
    ready.put("threads", JniUtils.getNumThreads());
    ready.put("interop_threads", JniUtils.getNumInteropThreads());
    ready.put("omp_num_threads", System.getenv("OMP_NUM_THREADS"));
    ready.put("ld_preload", System.getenv("LD_PRELOAD"));
    ready.put("native_libraries", nativeLibraries());
    ready.put("samples", data.rows());
    ready.put("java", System.getProperty("java.vm.name") + " " + Runtime.version());
    ready.put("jvm_options", ManagementFactory.getRuntimeMXBean().getInputArguments());
    System.out.println("READY " + Json.of(ready));

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      String variant = line.strip();
      if (variant.isEmpty()) continue;
      if (variant.equals("quit")) break;
      Map<String, Object> result = switch (variant) {
        case "trainer-pairs" -> trainerPairs(pairConfig, stepsPerEpoch);
        case "trainer", "trainer-reduced" -> trainerRound(config, variant, steps, warmupSteps, stepsPerEpoch);
        case "djl-forward" -> forwardOnly(data, steps, warmupSteps);
        default -> throw new IllegalArgumentException("unknown variant '" + variant + "': " + VARIANTS);
      };
      System.out.println("RESULT " + Json.of(result));
    }
  }

  /**
   * The run config of every DjlTrainer call: the csv of the blobs, no validation split (no evaluation), SGD without
   * momentum, checkpoints only at epoch ends, a step event every step (the bench's telemetry timestamps them).
   */
  private static RunConfig config(Path dataDir, int epochs) {
    return RunConfig.fromOverrides(List.of("trainer=djl", "dataset.format=csv",
        "dataset.path=" + dataDir.resolve("blobs.csv").toAbsolutePath(), "dataset.val-fraction=0",
        "model.type=mlp", "model.hidden=[256,128]", "batch-size=" + BATCH, "optimizer.type=sgd", "optimizer.lr=0.01",
        "optimizer.momentum=0", "epochs=" + epochs, "checkpoint.every-steps=1000000000",
        "telemetry.every-steps=1", "hard-examples.k=" + K, "seed=7"), Map.of());
  }

  /**
   * What per-sample losses plus tracking cost the real path, measured finely: {@value #PAIRS} pairs of short
   * {@link DjlTrainer#train} calls ({@value #PAIR_EPOCHS} epochs each), {@code (config, true)} and {@code (config,
   * false)} back to back, the order flipped every pair, so that both halves of a pair see the same machine. Each call's
   * step time is its median step (gap between step events) after its first {@value #PAIR_SKIP_STEPS} steps.
   */
  private static Map<String, Object> trainerPairs(RunConfig config, int stepsPerEpoch) throws Exception {
    int steps = PAIR_EPOCHS * stepsPerEpoch;
    double[] perSample = new double[PAIRS];
    double[] reduced = new double[PAIRS];
    double[] overhead = new double[PAIRS];
    double offerNs = 0;
    for (int p = 0; p < PAIRS; p++) {
      for (int half = 0; half < 2; half++) {
        boolean perSampleLosses = (p + half) % 2 == 0;
        TimedContext context = trainOnce(config, perSampleLosses, steps, stepsPerEpoch);
        double medianStepMs = Stats.median(stepGapsMs(context.stepEndNs, PAIR_SKIP_STEPS));
        if (perSampleLosses) {
          perSample[p] = medianStepMs;
          offerNs += (double) context.offerNs / context.offers;
        } else {
          reduced[p] = medianStepMs;
        }
      }
      overhead[p] = (perSample[p] - reduced[p]) / reduced[p];
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("side", "djl");
    out.put("variant", "trainer-pairs");
    out.put("pairs", PAIRS);
    out.put("steps_per_call", steps);
    out.put("per_sample_median_step_ms", Arrays.stream(perSample).boxed().toList());
    out.put("reduced_median_step_ms", Arrays.stream(reduced).boxed().toList());
    out.put("overhead", Arrays.stream(overhead).boxed().toList());
    out.put("offer_us_per_step", offerNs / PAIRS / 1e3);
    return out;
  }

  /** One {@link DjlTrainer#train} of {@code steps} steps over the whole data as one shard, with a timing context. */
  private static TimedContext trainOnce(RunConfig config, boolean perSampleLosses, int steps, int stepsPerEpoch)
      throws Exception {
    Path checkpoints = Files.createTempDirectory("djl-throughput");
    try {
      TestTrainerContext base = TestTrainerContext.forShard(config, 0, 1, 0, stepsPerEpoch * BATCH, checkpoints, null);
      TimedContext context = new TimedContext(base, steps);
      ShardResult result = new DjlTrainer(config, perSampleLosses).train(context);
      if (result.endStep() != steps) throw new IllegalStateException("trained " + result.endStep() + " of " + steps);
      context.finalLoss = result.finalLoss();
      return context;
    } finally {
      try (Stream<Path> walk = Files.walk(checkpoints)) {
        for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
      }
    }
  }

  /** One {@link DjlTrainer#train} of the whole data as one shard, timed from its step events. */
  private static Map<String, Object> trainerRound(RunConfig config, String variant, int steps, int warmupSteps,
      int stepsPerEpoch) throws Exception {
    boolean perSampleLosses = switch (variant) {
      case "trainer" -> true;
      case "trainer-reduced" -> false;
      default -> throw new IllegalArgumentException("unknown variant '" + variant + "': " + VARIANTS);
    };
    JvmCounters before = JvmCounters.now();
    TimedContext context = trainOnce(config, perSampleLosses, steps, stepsPerEpoch);
    JvmCounters after = JvmCounters.now();

    long[] ends = context.stepEndNs;
    int measured = steps - warmupSteps;
    double seconds = (ends[steps - 1] - ends[warmupSteps - 1]) / 1e9;
    // Epoch ends (a checkpoint, written and fsynced, and the empty evaluation) fall between the last step of an
    // epoch and the first of the next: their cost is what those gaps take beyond the median gap.
    double[] gaps = stepGapsMs(ends, warmupSteps);
    double medianGapMs = Stats.median(gaps);
    double epochEndMs = 0;
    int epochEnds = 0;
    for (int s = warmupSteps; s < steps; s++) {
      if (s % stepsPerEpoch == 0) { // the gap after the last step of an epoch
        epochEndMs += gaps[s - warmupSteps] - medianGapMs;
        epochEnds++;
      }
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("side", "djl");
    out.put("variant", variant);
    out.put("steps", measured);
    out.put("samples", (long) measured * BATCH);
    out.put("seconds", seconds);
    out.put("samples_per_s", measured * BATCH / seconds);
    out.put("step_ms", seconds * 1e3 / measured);
    out.put("median_step_ms", medianGapMs);
    out.put("epoch_ends", epochEnds);
    out.put("epoch_end_extra_ms", epochEnds == 0 ? 0 : epochEndMs / epochEnds);
    out.put("epoch_end_share", epochEndMs / (seconds * 1e3));
    out.put("offered_samples", context.offers * BATCH);
    out.put("offer_us_per_step", context.offers == 0 ? 0.0 : context.offerNs / 1e3 / context.offers);
    out.put("final_loss", context.finalLoss);
    out.putAll(after.minus(before));
    out.put("direct_buffer_peak_mb", context.directPeakBytes / 1e6);
    return out;
  }

  /**
   * The model's forward pass alone (no gradient collector) on one fixed batch, the engine's compute without the
   * training loop, and the first layer's GEMM alone (256x784 by 784x256), as {@code torch-forward} does. The MLP is
   * built here as DjlTrainer's {@code Models} builds {@code model.type = mlp}, without the trainer's data path.
   */
  private static Map<String, Object> forwardOnly(BlobData data, int steps, int warmupSteps) {
    int d = data.features();
    try (Model model = Model.newInstance("forward-mlp", Device.cpu(), "PyTorch")) {
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
        out.put("variant", "djl-forward");
        out.put("steps", measured);
        out.put("samples", (long) measured * BATCH);
        out.put("seconds", seconds);
        out.put("samples_per_s", measured * BATCH / seconds);
        out.put("step_ms", seconds * 1e3 / measured);
        out.put("median_step_ms", Stats.median(stepMs));
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

  /** The time between consecutive step events from step {@code from} on, in ms. */
  private static double[] stepGapsMs(long[] stepEndNs, int from) {
    double[] gaps = new double[stepEndNs.length - from];
    for (int s = from; s < stepEndNs.length; s++) gaps[s - from] = (stepEndNs[s] - stepEndNs[s - 1]) / 1e6;
    return gaps;
  }

  /** The shared objects this process has mapped that matter here: libtorch, OpenMP, BLAS/MKL. */
  private static List<String> nativeLibraries() throws IOException {
    try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
      return maps.map(l -> l.substring(l.lastIndexOf(' ') + 1))
          .filter(p -> p.startsWith("/") && p.matches(".*(torch|gomp|omp|blas|mkl|c10).*"))
          .map(p -> p.substring(p.lastIndexOf('/') + 1))
          .distinct().sorted().collect(Collectors.toList());
    }
  }

  /**
   * A {@link TestTrainerContext} for the shard with the worker's real hard-example path (a {@link HardExampleTracker}
   * behind one lock per step, as {@code Worker.ShardContext} offers) and telemetry that only timestamps each step.
   */
  private static final class TimedContext extends ForwardingTrainerContext {
    private static final BufferPoolMXBean DIRECT = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)
        .stream().filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();

    private final HardExampleTracker tracker = new HardExampleTracker("bench-worker", K, false);
    final long[] stepEndNs;
    long offers;
    long offerNs;
    float finalLoss;
    long directPeakBytes;

    TimedContext(TestTrainerContext base, int steps) {
      super(base);
      this.stepEndNs = new long[steps];
    }

    @Override
    public HardExampleSink hardExamples() {
      return (sampleIds, losses, labels, predicted, count, step) -> {
        long start = System.nanoTime();
        synchronized (tracker) {
          tracker.offer(sampleIds, losses, labels, predicted, count, step);
        }
        offerNs += System.nanoTime() - start;
        offers++;
      };
    }

    @Override
    public TelemetryEmitter telemetry() {
      return new TelemetryEmitter() {
        @Override
        public boolean step(long step, int epoch, float loss, float lr, float samplesPerSec) {
          stepEndNs[(int) step] = System.nanoTime();
          directPeakBytes = Math.max(directPeakBytes, DIRECT.getMemoryUsed());
          return true;
        }

        @Override
        public boolean epoch(long step, int epoch, float meanLoss) {
          return true;
        }

        @Override
        public boolean eval(long step, int epoch, float valLoss, float valAccuracy) {
          return true;
        }

        @Override
        public long droppedEvents() {
          return 0;
        }

        @Override
        public void retarget(ActorRef<RunCommand> run) {}

        @Override
        public CompletionStage<Done> complete() {
          return CompletableFuture.completedFuture(Done.getInstance());
        }
      };
    }

    @Override
    public boolean stopRequested() {
      return false;
    }
  }

  /** Garbage collections and their time, summed over the JVM's collectors. */
  record JvmCounters(long gcCount, long gcMs) {
    static JvmCounters now() {
      long count = 0;
      long ms = 0;
      for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
        count += Math.max(0, gc.getCollectionCount());
        ms += Math.max(0, gc.getCollectionTime());
      }
      return new JvmCounters(count, ms);
    }

    Map<String, Object> minus(JvmCounters before) {
      return Map.of("gc_count", gcCount - before.gcCount, "gc_ms", gcMs - before.gcMs);
    }
  }

  /** Medians for the result lines. */
  static final class Stats {
    private Stats() {}

    static double median(double[] values) {
      double[] sorted = values.clone();
      Arrays.sort(sorted);
      int n = sorted.length;
      return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
  }

  /** Just enough JSON for flat result lines: numbers, strings, booleans, lists and nested maps. */
  static final class Json {
    private Json() {}

    static String of(Object value) {
      if (value == null) return "null";
      if (value instanceof Map<?, ?> map) {
        return map.entrySet().stream().map(e -> of(e.getKey().toString()) + ": " + of(e.getValue()))
            .collect(Collectors.joining(", ", "{", "}"));
      }
      if (value instanceof List<?> list) return list.stream().map(Json::of).collect(Collectors.joining(", ", "[", "]"));
      if (value instanceof Double || value instanceof Float) {
        double d = ((Number) value).doubleValue();
        return Double.isFinite(d) ? String.format(Locale.ROOT, "%.6g", d) : "null";
      }
      if (value instanceof Number || value instanceof Boolean) return value.toString();
      StringBuilder s = new StringBuilder("\"");
      for (char c : value.toString().toCharArray()) {
        if (c == '"' || c == '\\') s.append('\\').append(c);
        else if (c < 0x20) s.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
        else s.append(c);
      }
      return s.append('"').toString();
    }
  }
}
