package io.quarry.deploy;

import io.quarry.coordinator.Coordinator;
import io.quarry.coordinator.http.HttpApi;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.CoordinatorCommand;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.http.javadsl.ServerBinding;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code quarry coordinator}: a cluster node with the {@code coordinator} role. The coordinator singleton runs on
 * the oldest such node; start a second one (pointing at the first as its seed, and at the same store) as a
 * standby. Every coordinator node serves the HTTP API, forwarding to wherever the singleton runs.
 */
@Command(
    name = "coordinator",
    mixinStandardHelpOptions = true,
    description = {
      "Starts a coordinator node: the coordinator singleton (or its standby), the run store and the HTTP API.",
      "It runs until stopped (SIGTERM leaves the cluster gracefully; the standby takes over)."
    })
final class CoordinatorNodeCommand implements Callable<Integer> {
  static final int DEFAULT_ARTERY_PORT = 2552;

  @Mixin NodeOptions node;

  @Option(names = "--runs-dir", paramLabel = "DIR",
      description = "where run directories go (env QUARRY_RUNS_DIR, default runs); workers must reach the same path")
  Path runsDir;

  @Option(names = "--store", paramLabel = "URL",
      description = "the run store (env QUARRY_STORE, default sqlite:<runs-dir>/quarry.db; or jdbc:postgresql://...)")
  String store;

  @Option(names = "--http-port", paramLabel = "PORT", description = "HTTP API port (env QUARRY_HTTP_PORT, default 8080)")
  Integer httpPort;

  @Option(names = "--http-host", paramLabel = "HOST", defaultValue = "0.0.0.0",
      description = "address the HTTP API binds to, default ${DEFAULT-VALUE}")
  String httpHost;

  @Override
  public Integer call() throws Exception {
    Map<String, String> env = System.getenv();
    Path runs = runsDir != null ? runsDir : Path.of(env.getOrDefault("QUARRY_RUNS_DIR", "runs"));
    String storeUrl = store != null ? store : env.getOrDefault("QUARRY_STORE", LocalCluster.defaultStoreUrl(runs));
    int http;
    ActorSystem<Void> system;
    RunStore runStore;
    try {
      http = httpPort != null ? httpPort : Integer.parseInt(env.getOrDefault("QUARRY_HTTP_PORT", "8080").trim());
      runStore = RunStores.open(storeUrl);
    } catch (IllegalArgumentException e) {
      System.err.println("quarry coordinator: " + e.getMessage());
      return QuarryCli.EXIT_USAGE;
    }
    List<String> seeds;
    try {
      seeds = node.seedNodes(env);
      system = ActorSystem.create(Behaviors.empty(), ClusterConfig.SYSTEM_NAME, ClusterConfig.of(node.host(env),
          node.port(env, DEFAULT_ARTERY_PORT), seeds, List.of(Coordinator.ROLE), node.transport(env)));
    } catch (IllegalArgumentException e) {
      runStore.close();
      System.err.println("quarry coordinator: " + e.getMessage());
      return QuarryCli.EXIT_USAGE;
    }
    system.getWhenTerminated().thenRun(runStore::close);
    Address self = Cluster.get(system).selfMember().address();
    if (seeds.isEmpty()) Cluster.get(system).manager().tell(Join.create(self));
    ActorRef<CoordinatorCommand> coordinator = Coordinator.singleton(system, runStore, runs);
    ServerBinding binding;
    try {
      binding = HttpApi.bind(system, coordinator, httpHost, http).toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      System.err.println("quarry coordinator: cannot serve HTTP on " + httpHost + ":" + http + ": " + e.getMessage());
      system.terminate();
      return QuarryCli.EXIT_FAILED;
    }
    System.out.println("quarry coordinator node up at " + self.host().get() + ":" + self.port().get() + " ("
        + node.transport(env) + "), HTTP API on port " + binding.localAddress().getPort() + ", runs in "
        + runs.toAbsolutePath() + ", store " + RunStores.redact(storeUrl)
        + (seeds.isEmpty() ? ", forming a new cluster" : ", joining " + seeds));
    system.getWhenTerminated().toCompletableFuture().join();
    return QuarryCli.EXIT_COMPLETED;
  }
}
