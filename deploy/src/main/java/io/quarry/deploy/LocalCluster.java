package io.quarry.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.quarry.coordinator.Coordinator;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.Worker;
import io.quarry.worker.trainer.TrainerRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Local mode: one actor system holding the coordinator and N workers, talking through the same protocol (and,
 * with {@code serialize-messages = on}, the same serializer) as a cluster does.
 */
public final class LocalCluster implements AutoCloseable {
  private final ActorSystem<Void> system;
  private final ActorRef<CoordinatorCommand> coordinator;
  private final List<ActorRef<WorkerCommand>> workers = new ArrayList<>();
  private final RunClient client;

  private final RunStore store;
  private final TrainerRegistry trainers;

  private LocalCluster(ActorSystem<Void> system, ActorRef<CoordinatorCommand> coordinator, RunStore store,
      TrainerRegistry trainers) {
    this.system = system;
    this.coordinator = coordinator;
    this.store = store;
    this.trainers = trainers;
    this.client = new RunClient(system, coordinator);
  }

  /**
   * Starts a coordinator writing under {@code runsDir} (with its run store, {@code runsDir/quarry.db}) and
   * {@code workerCount} CPU workers. The workers run whatever program a run names (the user runs what they run) and
   * read data under the working directory and {@code runsDir}, and under {@code quarry.worker.data-roots} of
   * {@code overrides} ({@code quarry local --data-root}).
   */
  public static LocalCluster start(int workerCount, Path runsDir, Config overrides) {
    return start(workerCount, runsDir, overrides, TrainerRegistry.load());
  }

  /** As {@link #start(int, Path, Config)}, with workers that train with {@code trainers} (a trainer of your own). */
  public static LocalCluster start(int workerCount, Path runsDir, Config overrides, TrainerRegistry trainers) {
    return start(workerCount, runsDir, defaultStoreUrl(runsDir), overrides, trainers);
  }

  /** As {@link #start(int, Path, Config, TrainerRegistry)}, with the run store at {@code storeUrl}. */
  public static LocalCluster start(int workerCount, Path runsDir, String storeUrl, Config overrides,
      TrainerRegistry trainers) {
    List<String> dataRoots = new ArrayList<>(List.of(Path.of("").toAbsolutePath().toString(),
        runsDir.toAbsolutePath().toString()));
    if (overrides.hasPath("quarry.worker.data-roots")) dataRoots.addAll(overrides.getStringList("quarry.worker.data-roots"));
    Config config = overrides
        .withValue("quarry.worker.data-roots", ConfigValueFactory.fromIterable(dataRoots))
        .withFallback(ConfigFactory.parseString("pekko.actor.provider = local\n"
            // One JVM: a pause stops the coordinator too, so it never takes a worker for lost by it.
            + "quarry.worker.max-pause = 0s\n"
            + "quarry.worker.allow-any-program = on"))
        .withFallback(ConfigFactory.load());
    RunStore store = RunStores.open(storeUrl);
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "quarry", config);
    ActorRef<CoordinatorCommand> coordinator = system.systemActorOf(
        Coordinator.create(store, runsDir, Clock.systemUTC()), "coordinator", Coordinator.DISPATCHER);
    LocalCluster cluster = new LocalCluster(system, coordinator, store, trainers);
    for (int i = 0; i < workerCount; i++) cluster.addWorker("local-" + i, "cpu");
    try {
      cluster.client.awaitWorkers(workerCount, Duration.ofSeconds(30));
    } catch (RuntimeException e) {
      cluster.close();
      throw e;
    }
    return cluster;
  }

  /** Starts one more worker (local mode has one per simulated device). */
  public ActorRef<WorkerCommand> addWorker(String workerId, String device) {
    ActorRef<WorkerCommand> worker = system.systemActorOf(
        Worker.create(workerId, device, trainers, Clock.systemUTC()), workerId, Props.empty());
    workers.add(worker);
    return worker;
  }

  public ActorSystem<Void> system() {
    return system;
  }

  public ActorRef<CoordinatorCommand> coordinator() {
    return coordinator;
  }

  public List<ActorRef<WorkerCommand>> workers() {
    return List.copyOf(workers);
  }

  /** A client of this cluster's coordinator. */
  public RunClient client() {
    return client;
  }

  public CompletionStage<CoordinatorCommand.SubmitReply> submit(RunSpec spec) {
    return client.submit(spec);
  }

  public CompletionStage<CoordinatorCommand.StopReply> stop(String runId, String reason) {
    return client.stop(runId, reason);
  }

  /** See {@link RunClient#follow}. */
  public CompletableFuture<RunSummary> follow(String runId, Consumer<RunUpdate.Progressed> onProgress) {
    return client.follow(runId, onProgress);
  }

  /** The embedded default store: an SQLite file beside the run directories. */
  static String defaultStoreUrl(Path runsDir) {
    return "sqlite:" + runsDir.resolve("quarry.db");
  }

  @Override
  public void close() {
    // A run's plots are drawn as it ends, off its actor's thread: they are there when local mode returns.
    io.quarry.coordinator.plots.RunPlotter.get(system).awaitIdle(Duration.ofSeconds(60));
    system.terminate();
    try {
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      // Shutting down anyway; a hung dispatcher thread must not keep the launcher alive.
    }
    store.close();
  }
}
