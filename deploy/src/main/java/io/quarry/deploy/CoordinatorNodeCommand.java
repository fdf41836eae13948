package io.quarry.deploy;

import io.quarry.coordinator.Coordinator;
import io.quarry.coordinator.WriteFence;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.HttpApi;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.CoordinatorCommand;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.Done;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.http.javadsl.ConnectionContext;
import org.apache.pekko.http.javadsl.HttpsConnectionContext;
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
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(CoordinatorNodeCommand.class);
  /** How long the fence waits for a coordinator's handler in progress (a store write) before it lets shutdown on. */
  private static final java.time.Duration FENCE_WAIT = java.time.Duration.ofSeconds(5);

  @Mixin NodeOptions node;

  @Option(names = "--runs-dir", paramLabel = "DIR",
      description = "where run directories go (env QUARRY_RUNS_DIR, default runs); workers must reach the same path")
  Path runsDir;

  @Option(names = "--store", paramLabel = "URL",
      description = "the run store (env QUARRY_STORE, default sqlite:<runs-dir>/quarry.db; or jdbc:postgresql://...)")
  String store;

  @Option(names = "--http-port", paramLabel = "PORT", description = "HTTP API port (env QUARRY_HTTP_PORT, default 8080)")
  Integer httpPort;

  @Option(names = "--http-host", paramLabel = "HOST",
      description = "address the HTTP API binds to (env QUARRY_HTTP_HOST, default 127.0.0.1: this host only; 0.0.0.0: "
          + "every interface)")
  String httpHost;

  @Option(names = "--api-tokens", paramLabel = "FILE",
      description = "the API's tokens, one `ROLE TOKEN` a line, ROLE read or operate, read again when it changes "
          + "(env QUARRY_API_TOKENS; default <runs-dir>/api-token, made with one operate token at first start)")
  Path apiTokens;

  @Option(names = "--insecure-no-auth",
      description = "serve the API without tokens: anyone who reaches it may submit runs (programs on every worker); "
          + "for a closed lab network only, warned about at every start")
  boolean insecureNoAuth;

  @Option(names = "--http-keystore", paramLabel = "FILE",
      description = "serve the API over HTTPS with the key and certificate in this PKCS12 store (env "
          + "QUARRY_HTTP_KEYSTORE; password: env QUARRY_HTTP_KEYSTORE_PASSWORD)")
  Path httpKeystore;

  @Override
  public Integer call() throws Exception {
    Map<String, String> env = System.getenv();
    Path runs = runsDir != null ? runsDir : Path.of(env.getOrDefault("QUARRY_RUNS_DIR", "runs"));
    String storeUrl = store != null ? store : env.getOrDefault("QUARRY_STORE", LocalCluster.defaultStoreUrl(runs));
    int http;
    String host = httpHost != null ? httpHost : env.getOrDefault("QUARRY_HTTP_HOST", "127.0.0.1").trim();
    ActorSystem<Void> system;
    RunStore runStore;
    ApiTokens tokens;
    Optional<HttpsConnectionContext> https;
    try {
      http = httpPort != null ? httpPort : Integer.parseInt(env.getOrDefault("QUARRY_HTTP_PORT", "8080").trim());
      tokens = tokens(env, runs);
      https = https(env);
      runStore = RunStores.open(storeUrl);
    } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
      System.err.println("quarry coordinator: " + e.getMessage());
      return QuarryCli.EXIT_USAGE;
    }
    List<String> seeds;
    boolean kubernetes;
    try {
      seeds = node.seedNodes(env);
      kubernetes = node.kubernetesDiscovery(env);
      system = ActorSystem.create(Behaviors.empty(), ClusterConfig.SYSTEM_NAME, node.clusterConfig(env,
          DEFAULT_ARTERY_PORT, Coordinator.ROLE, true, com.typesafe.config.ConfigFactory.empty()));
    } catch (IllegalArgumentException e) {
      runStore.close();
      System.err.println("quarry coordinator: " + e.getMessage());
      return QuarryCli.EXIT_USAGE;
    }
    system.getWhenTerminated().thenRun(runStore::close);
    Address self = Cluster.get(system).selfMember().address();
    if (kubernetes) {
      try {
        KubernetesBootstrap.start(system);
      } catch (IllegalStateException e) {
        System.err.println("quarry coordinator: " + e.getMessage());
        system.terminate();
        return QuarryCli.EXIT_FAILED;
      }
    } else if (seeds.isEmpty()) {
      Cluster.get(system).manager().tell(Join.create(self));
    }
    WriteFence fence = new WriteFence();
    fenceOnLeaving(system, fence);
    ActorRef<CoordinatorCommand> coordinator = Coordinator.singleton(system, runStore, runs, fence);
    ServerBinding binding;
    try {
      binding = HttpApi.bind(system, coordinator, tokens, host, http, https, new DashboardSweeps(256))
          .toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      System.err.println("quarry coordinator: cannot serve HTTP on " + host + ":" + http + ": " + e.getMessage());
      system.terminate();
      return QuarryCli.EXIT_FAILED;
    }
    if (!tokens.required()) {
      System.err.println("quarry coordinator: WARNING: the HTTP API on " + host + ":" + binding.localAddress().getPort()
          + " takes requests WITHOUT a token (--insecure-no-auth)" + (loopback(host)
              ? "; it listens on this host only" : ": anyone who can reach it can submit runs, that is run programs on "
                  + "every worker host, and stop any run. Use tokens (--api-tokens) on any network you do not control."));
    } else if (apiTokens == null && env.get("QUARRY_API_TOKENS") == null) {
      System.out.println("quarry coordinator: API tokens in " + tokens.file().toAbsolutePath()
          + " (send one as Authorization: Bearer TOKEN; quarry submit/status/stop/runs read it from there)");
    }
    System.out.println("quarry coordinator node up at " + self.host().get() + ":" + self.port().get() + " ("
        + node.transport(env) + "), HTTP API on " + (https.isPresent() ? "https://" : "http://") + host + ":"
        + binding.localAddress().getPort() + ", runs in "
        + runs.toAbsolutePath() + ", store " + RunStores.redact(storeUrl)
        + (kubernetes ? ", finding the cluster through the Kubernetes API (management port "
            + system.settings().config().getInt("pekko.management.http.port") + ")"
            : seeds.isEmpty() ? ", forming a new cluster" : ", joining " + seeds));
    system.getWhenTerminated().toCompletableFuture().join();
    return QuarryCli.EXIT_COMPLETED;
  }

  /**
   * When this node leaves the cluster (downed by the split-brain resolver on the smaller side of a partition, or
   * stopped), before anything else: its coordinator, if it runs here, and its run actors write nothing more, so that
   * nothing they do collides with the standby that takes over on the other side.
   */
  private static void fenceOnLeaving(ActorSystem<?> system, WriteFence fence) {
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "quarry-fence-coordinator",
        () -> CompletableFuture.supplyAsync(() -> {
          try {
            boolean quiet = fence.fence("this coordinator node is leaving the cluster (stopped, or downed by the "
                + "split-brain resolver)", FENCE_WAIT);
            LOG.warn("coordinator node fenced at unix ms {}: its coordinator and run actors write nothing more{}",
                System.currentTimeMillis(), quiet ? "" : " (a handler was still running after " + FENCE_WAIT + ")");
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return Done.getInstance();
        }));
  }

  /** The API's tokens: none with --insecure-no-auth, else the file given, else {@code <runs-dir>/api-token}. */
  private ApiTokens tokens(Map<String, String> env, Path runs) {
    if (insecureNoAuth) {
      if (apiTokens != null) throw new IllegalArgumentException("--api-tokens and --insecure-no-auth exclude each other");
      return ApiTokens.insecureNoAuth();
    }
    Path file = apiTokens != null ? apiTokens
        : env.get("QUARRY_API_TOKENS") != null ? Path.of(env.get("QUARRY_API_TOKENS")) : ApiTokens.ensureDefaultFile(runs);
    return ApiTokens.fromFile(file);
  }

  private Optional<HttpsConnectionContext> https(Map<String, String> env) {
    Path store = httpKeystore != null ? httpKeystore
        : env.get("QUARRY_HTTP_KEYSTORE") == null ? null : Path.of(env.get("QUARRY_HTTP_KEYSTORE"));
    if (store == null) return Optional.empty();
    char[] password = env.getOrDefault("QUARRY_HTTP_KEYSTORE_PASSWORD", "").toCharArray();
    return Optional.of(ConnectionContext.httpsServer(TlsFiles.server(store, password, "--http-keystore")));
  }

  private static boolean loopback(String host) {
    try {
      return java.net.InetAddress.getByName(host).isLoopbackAddress();
    } catch (java.net.UnknownHostException e) {
      return false;
    }
  }
}
