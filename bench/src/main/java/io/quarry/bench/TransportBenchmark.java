package io.quarry.bench;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.quarry.deploy.ClusterConfig;
import io.quarry.protocol.QuarryMessage;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCommand.ShardStarted;
import io.quarry.protocol.RunCommand.TelemetryAck;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Artery tcp vs aeron-udp between two JVMs on 127.0.0.1, with Quarry's node settings (ClusterConfig) and its Kryo
 * serializer in the path. Not JMH: it needs a second JVM. For each round and each transport it starts a peer JVM
 * (same class path) whose guardian echoes, then measures
 * <ol>
 *   <li>round trips: one {@link TelemetryAck} at a time, driver thread to the peer and back (warm-up, then N);
 *   <li>one-way throughput: {@link ShardStarted} records (a small Quarry record of five fields) sent as fast as a
 *       window allows; the peer acks every {@code batch} messages and at most {@code window} batches are in flight;
 *   <li>idle CPU: what the two JVMs use of a core while connected and idle.
 * </ol>
 * Usage: {@code TransportBenchmark [rounds=3] [roundTrips=20000] [messages=500000] [transports=tcp,aeron-udp]}.
 */
public final class TransportBenchmark {
  private static final String HOST = "127.0.0.1";
  // At most BATCH x WINDOW_BATCHES messages in flight: below Artery's outbound-message-queue-size (3072), which
  // drops what does not fit.
  private static final int BATCH = 500;
  private static final int WINDOW_BATCHES = 4;
  private static final int WARMUP_ROUND_TRIPS = 5000;
  private static final Duration IDLE_SAMPLE = Duration.ofSeconds(5);

  private TransportBenchmark() {}

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("--peer")) {
      runPeer(args[1], args[2]);
      return;
    }
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    int roundTrips = args.length > 1 ? Integer.parseInt(args[1]) : 20_000;
    int messages = args.length > 2 ? Integer.parseInt(args[2]) : 500_000;
    List<String> transports = List.of((args.length > 3 ? args[3] : "tcp,aeron-udp").split(","));
    if (messages % BATCH != 0 || messages < 5 * BATCH) {
      throw new IllegalArgumentException("messages: " + messages + " must be a multiple of " + BATCH + ", at least "
          + 5 * BATCH);
    }
    System.out.printf(Locale.ROOT, "rounds %d, round trips %d (+%d warm-up), one-way messages %d (ack every %d,"
        + " window %d batches), transports %s%n", rounds, roundTrips, WARMUP_ROUND_TRIPS, messages, BATCH,
        WINDOW_BATCHES, transports);
    Map<String, List<Result>> results = new LinkedHashMap<>();
    for (int round = 1; round <= rounds; round++) {
      for (String transport : transports) {
        Result result = measure(transport, roundTrips, messages);
        results.computeIfAbsent(transport, t -> new ArrayList<>()).add(result);
        System.out.printf(Locale.ROOT, "round %d %-9s %s%n", round, transport, result);
      }
    }
    System.out.println();
    System.out.println("median over rounds:");
    Map<String, Result> medians = new LinkedHashMap<>();
    for (var entry : results.entrySet()) {
      Result median = Result.median(entry.getValue());
      medians.put(entry.getKey(), median);
      System.out.printf(Locale.ROOT, "  %-9s %s%n", entry.getKey(), median);
    }
    if (medians.containsKey("tcp") && medians.containsKey("aeron-udp")) {
      Result tcp = medians.get("tcp");
      Result aeron = medians.get("aeron-udp");
      System.out.printf(Locale.ROOT, "aeron-udp / tcp: rtt p50 %.2f, p99 %.2f, p99.9 %.2f; throughput %.2f;"
              + " idle cpu %.2f%n", aeron.p50Us / tcp.p50Us, aeron.p99Us / tcp.p99Us, aeron.p999Us / tcp.p999Us,
          aeron.messagesPerS / tcp.messagesPerS, aeron.idleCpuPercent / Math.max(tcp.idleCpuPercent, 0.01));
    }
  }

  /** One measurement of one transport against a fresh peer JVM. */
  private static Result measure(String transport, int roundTrips, int messages) throws Exception {
    BlockingQueue<TelemetryAck> replies = new LinkedBlockingQueue<>();
    Semaphore window = new Semaphore(WINDOW_BATCHES);
    Behavior<QuarryMessage> sink = Behaviors.receiveMessage(message -> {
      if (message == TelemetryAck.INSTANCE) {
        // During the round trips the window is never short, so an ack there is a reply.
        if (window.availablePermits() < WINDOW_BATCHES) window.release();
        else replies.add(TelemetryAck.INSTANCE);
      }
      return Behaviors.same();
    });
    ActorSystem<QuarryMessage> driver = ActorSystem.create(sink, ClusterConfig.SYSTEM_NAME, nodeConfig(transport));
    Process peer = startPeer(transport, ActorRefResolver.get(driver).toSerializationFormat(driver));
    try {
      BufferedReader peerOut = new BufferedReader(new InputStreamReader(peer.getInputStream(), StandardCharsets.UTF_8));
      String echoPath = awaitLine(peerOut, "ECHO ");
      ActorRef<QuarryMessage> echo = ActorRefResolver.get(driver).resolveActorRef(echoPath);

      for (int i = 0; i < WARMUP_ROUND_TRIPS; i++) roundTrip(echo, replies);
      long[] rttNs = new long[roundTrips];
      for (int i = 0; i < roundTrips; i++) rttNs[i] = roundTrip(echo, replies);
      Arrays.sort(rttNs);

      sendOneWay(echo, window, messages / 5); // warm-up
      long start = System.nanoTime();
      sendOneWay(echo, window, messages);
      double seconds = (System.nanoTime() - start) / 1e9;

      long peerCpuBefore = cpuNs(peer.toHandle());
      long selfCpuBefore = selfCpuNs();
      Thread.sleep(IDLE_SAMPLE.toMillis());
      double idleCpuPercent = 100.0 * ((cpuNs(peer.toHandle()) - peerCpuBefore) + (selfCpuNs() - selfCpuBefore))
          / IDLE_SAMPLE.toNanos();
      return new Result(percentileUs(rttNs, 0.50), percentileUs(rttNs, 0.90), percentileUs(rttNs, 0.99),
          percentileUs(rttNs, 0.999), messages / seconds, idleCpuPercent);
    } finally {
      peer.getOutputStream().close(); // the peer stops when its standard input closes
      if (!peer.waitFor(20, TimeUnit.SECONDS)) peer.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      driver.terminate();
      driver.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  private static long roundTrip(ActorRef<QuarryMessage> echo, BlockingQueue<TelemetryAck> replies)
      throws InterruptedException {
    long start = System.nanoTime();
    echo.tell(TelemetryAck.INSTANCE);
    if (replies.poll(10, TimeUnit.SECONDS) == null) throw new IllegalStateException("no reply within 10 s");
    return System.nanoTime() - start;
  }

  /** Sends count records; every BATCH-th one takes a permit that the peer's ack for that batch gives back. */
  private static void sendOneWay(ActorRef<QuarryMessage> echo, Semaphore window, int count)
      throws InterruptedException {
    for (int i = 0; i < count; i++) {
      if (i % BATCH == 0 && !window.tryAcquire(30, TimeUnit.SECONDS)) {
        throw new IllegalStateException("no ack within 30 s after " + i + " messages");
      }
      echo.tell(new ShardStarted("bench-run", 3, 1, "bench-worker", i));
    }
    // Wait for the acks of every batch.
    if (!window.tryAcquire(WINDOW_BATCHES, 60, TimeUnit.SECONDS)) throw new IllegalStateException("acks missing");
    window.release(WINDOW_BATCHES);
  }

  private static Config nodeConfig(String transport) {
    // A plain remote provider: the transport is measured, not cluster membership.
    return ConfigFactory.parseString("pekko.actor.provider = remote")
        .withFallback(ClusterConfig.of(HOST, 0, List.of(), List.of(), transport));
  }

  private static Process startPeer(String transport, String sinkPath) throws Exception {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> command = new ArrayList<>(List.of(java, "-Xmx256m", "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED"));
    // The peer gets the same -D overrides as the driver (e.g. an idle-cpu-level or term buffer to compare).
    System.getProperties().forEach((key, value) -> {
      String name = key.toString();
      if (name.startsWith("pekko.") || name.startsWith("quarry.")) command.add("-D" + name + "=" + value);
    });
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), TransportBenchmark.class.getName(),
        "--peer", transport, sinkPath));
    return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }

  /** The peer: its guardian answers a TelemetryAck with one and acks every BATCH-th ShardStarted. */
  private static void runPeer(String transport, String sinkPath) throws Exception {
    ActorSystem<QuarryMessage> peer = ActorSystem.create(Behaviors.setup(context -> {
      ActorRef<QuarryMessage> sink = ActorRefResolver.get(context.getSystem()).resolveActorRef(sinkPath);
      long[] received = {0};
      return Behaviors.receiveMessage(message -> {
        if (message == TelemetryAck.INSTANCE) {
          sink.tell(TelemetryAck.INSTANCE);
        } else if (message instanceof RunCommand.ShardStarted && ++received[0] % BATCH == 0) {
          sink.tell(TelemetryAck.INSTANCE);
        }
        return Behaviors.same();
      });
    }), ClusterConfig.SYSTEM_NAME, nodeConfig(transport));
    System.out.println("ECHO " + ActorRefResolver.get(peer).toSerializationFormat(peer));
    System.out.flush();
    while (System.in.read() >= 0) {
      // runs until the driver closes our standard input (or dies)
    }
    peer.terminate();
    peer.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    System.exit(0);
  }

  private static String awaitLine(BufferedReader reader, String prefix) throws Exception {
    for (String line = reader.readLine(); line != null; line = reader.readLine()) {
      if (line.startsWith(prefix)) return line.substring(prefix.length()).trim();
    }
    throw new IllegalStateException("the peer JVM exited before it was ready");
  }

  private static double percentileUs(long[] sortedNs, double quantile) {
    int index = (int) Math.min(sortedNs.length - 1, Math.ceil(quantile * sortedNs.length) - 1);
    return sortedNs[Math.max(0, index)] / 1000.0;
  }

  private static long cpuNs(ProcessHandle process) {
    return process.info().totalCpuDuration().map(Duration::toNanos).orElse(0L);
  }

  private static long selfCpuNs() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private record Result(double p50Us, double p90Us, double p99Us, double p999Us, double messagesPerS,
      double idleCpuPercent) {
    static Result median(List<Result> results) {
      return new Result(median(results, Result::p50Us), median(results, Result::p90Us), median(results, Result::p99Us),
          median(results, Result::p999Us), median(results, Result::messagesPerS),
          median(results, Result::idleCpuPercent));
    }

    private static double median(List<Result> results, java.util.function.ToDoubleFunction<Result> field) {
      double[] values = results.stream().mapToDouble(field).sorted().toArray();
      int mid = values.length / 2;
      return values.length % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "rtt us p50 %7.1f p90 %7.1f p99 %7.1f p99.9 %8.1f | one-way %,9.0f msg/s"
          + " | idle cpu (both JVMs) %5.1f%% of a core", p50Us, p90Us, p99Us, p999Us, messagesPerS, idleCpuPercent);
    }
  }
}
