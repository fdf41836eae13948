package io.quarry.bench;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.TrainerSpec;
import io.quarry.protocol.ParameterChunks;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerContext;
import io.quarry.worker.trainer.TrainerFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;

/**
 * {@code trainer = sync-bench} (bench/sync.sh): every step is one parameter-averaging round of a vector of
 * {@code stub.samples} floats, timed as the trainer sees it (from handing its parameters over to holding the average).
 * Run it with a batch size of at least the shard's samples, so that {@code epochs} is the number of rounds. After the
 * rounds shard 0 measures two references in its JVM: a Kryo write and read of one vector in the same chunks, and
 * the coordinator's arithmetic for one round (summing {@code shards} vectors in double and dividing). It writes one
 * JSON object to {@code sync-bench.json} in its checkpoint directory.
 */
public final class SyncRoundTrainer implements Trainer {
  /** Found through META-INF/services in the benchmark jar. */
  public static final class Factory implements TrainerFactory {
    @Override
    public String name() {
      return "sync-bench";
    }

    @Override
    public Trainer create(RunConfig config) {
      return new SyncRoundTrainer();
    }
  }
  /** Its run-config section: no keys of its own (it reads the stub's {@code stub.*}); sized by {@code stub.samples}. */
  public static final class Spec implements TrainerSpec {
    @Override
    public String name() {
      return "sync-bench";
    }

    @Override
    public String description() {
      return "benchmark only: times parameter-averaging rounds of stub.samples floats, one round per step";
    }

    @Override
    public List<ConfigKey> keys() {
      return List.of();
    }

    @Override
    public long samples(RunConfig config) {
      return config.raw().getLong("stub.samples");
    }
  }


  /** Each reference runs this many times unmeasured (JIT), then {@link #REFERENCE_REPEATS} times measured. */
  private static final int REFERENCE_WARMUP = 3;

  private static final int REFERENCE_REPEATS = 5;

  @Override
  public ShardResult train(TrainerContext context) throws Exception {
    RunConfig config = context.config();
    int length = Math.toIntExact(config.raw().getLong("stub.samples"));
    long rounds = ((context.assignment().sampleCount() + config.batchSize - 1) / config.batchSize) * config.epochs;
    float[] params = new float[length];
    Random random = new Random(context.assignment().shard());
    for (int i = 0; i < length; i++) params[i] = (float) random.nextGaussian();

    List<Double> roundMs = new ArrayList<>();
    int unaveraged = 0;
    for (long round = 0; round < rounds && !context.stopRequested(); round++) {
      long startNs = System.nanoTime();
      float[] average = context.averageParameters(round, params);
      roundMs.add((System.nanoTime() - startNs) / 1e6);
      if (average == params) unaveraged++;
      params = average;
    }
    int shards = context.assignment().shards();
    String json = "{\"shard\": " + context.assignment().shard() + ", \"shards\": " + shards + ", \"params\": " + length
        + ", \"unaveraged\": " + unaveraged + ", \"round_ms\": " + list(roundMs);
    if (context.assignment().shard() == 0) {
      // One JVM measures the references, once the others have finished: nothing else competes for the cores.
      Thread.sleep(2_000);
      json += ", \"kryo_ms\": " + list(kryoRoundTripMs(params)) + ", \"sum_ms\": " + list(sumMs(params, shards));
    }
    json += "}";
    Files.createDirectories(context.checkpointDir());
    Files.writeString(context.checkpointDir().resolve("sync-bench.json"), json + "\n");
    return new ShardResult(rounds, roundMs.size(), roundMs.size(), 0f, context.stopRequested());
  }

  /** Kryo write then read of the vector in the chunks averaging sends it in (the float[] serializer the wire uses). */
  private static List<Double> kryoRoundTripMs(float[] vector) {
    Kryo kryo = new Kryo();
    kryo.register(float[].class);
    Output output = new Output(4096, -1);
    List<Double> times = new ArrayList<>();
    double sink = 0;
    for (int repeat = 0; repeat < REFERENCE_WARMUP + REFERENCE_REPEATS; repeat++) {
      long startNs = System.nanoTime();
      for (int chunk = 0; chunk < ParameterChunks.count(vector.length); chunk++) {
        int start = ParameterChunks.start(chunk);
        float[] values = Arrays.copyOfRange(vector, start, start + ParameterChunks.length(vector.length, chunk));
        output.reset();
        kryo.writeObject(output, values);
        float[] back = kryo.readObject(new Input(output.toBytes()), float[].class);
        sink += back[0];
      }
      if (repeat >= REFERENCE_WARMUP) times.add((System.nanoTime() - startNs) / 1e6);
    }
    if (sink == 42.4242) System.out.println(sink);
    return times;
  }

  /** What the coordinator computes for one round of {@code shards} vectors: a double sum, then the mean as float. */
  private static List<Double> sumMs(float[] vector, int shards) {
    List<Double> times = new ArrayList<>();
    for (int repeat = 0; repeat < REFERENCE_WARMUP + REFERENCE_REPEATS; repeat++) {
      long startNs = System.nanoTime();
      double[] sum = new double[vector.length];
      for (int s = 0; s < shards; s++) for (int i = 0; i < vector.length; i++) sum[i] += vector[i];
      float[] average = new float[vector.length];
      for (int i = 0; i < vector.length; i++) average[i] = (float) (sum[i] / shards);
      if (repeat >= REFERENCE_WARMUP) times.add((System.nanoTime() - startNs) / 1e6);
      if (average[0] == 42.4242f) System.out.println(average[0]);
    }
    return times;
  }

  private static String list(List<Double> values) {
    return values.stream().map(v -> String.format(java.util.Locale.ROOT, "%.3f", v)).collect(Collectors.joining(", ", "[", "]"));
  }
}
