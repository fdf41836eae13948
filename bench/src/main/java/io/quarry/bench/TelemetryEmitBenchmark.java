package io.quarry.bench;

import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.RunCommand;
import io.quarry.worker.telemetry.StreamTelemetryEmitter;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The cost, on the training thread, of emitting one step event into the bounded telemetry stream, with a live
 * consumer that acknowledges every batch as the run actor does. The goal is under 1 µs per event. When the
 * thread emits faster than the consumer drains, events are dropped (and counted): the aux counters report
 * how many of the measured calls were enqueued and how many dropped, since a drop is cheaper than an enqueue.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class TelemetryEmitBenchmark {
  private ActorSystem<Void> system;
  private StreamTelemetryEmitter emitter;
  private long step;

  /** Per-iteration outcome counts. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.EVENTS)
  public static class Outcomes {
    public long enqueued;
    public long dropped;

    @Setup(Level.Iteration)
    public void reset() {
      enqueued = 0;
      dropped = 0;
    }
  }

  @Setup(Level.Trial)
  public void start() {
    system = ActorSystem.create(Behaviors.empty(), "bench",
        ConfigFactory.parseString("pekko.loglevel = WARNING").withFallback(ConfigFactory.load()));
    ActorRef<RunCommand> run = system.systemActorOf(
        Behaviors.receive(RunCommand.class)
            .onMessage(RunCommand.TelemetryBatch.class, batch -> {
              batch.replyTo().tell(RunCommand.TelemetryAck.INSTANCE);
              return Behaviors.same();
            })
            .build(),
        "run", Props.empty());
    RunConfig config = RunConfig.fromOverrides(List.of(), Map.of());
    emitter = StreamTelemetryEmitter.start(system, config.telemetry, run, "bench", "w0", 0, 1,
        Duration.ofSeconds(10), Clock.systemUTC());
  }

  @TearDown(Level.Trial)
  public void stop() throws Exception {
    emitter.complete().toCompletableFuture().get(10, TimeUnit.SECONDS);
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @Benchmark
  public boolean emitStep(Outcomes outcomes) {
    boolean enqueued = emitter.step(step++, 0, 1.25f, 0.01f, 1000f);
    if (enqueued) outcomes.enqueued++;
    else outcomes.dropped++;
    return enqueued;
  }
}
