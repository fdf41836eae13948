package io.quarry.deploy;

import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.dashboard.DashboardServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.ServerBinding;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code quarry dashboard}: the dashboard over run directories, with no coordinator (as {@code tensorboard --logdir}
 * is): read-only, on 127.0.0.1, following runs still being written. A token is made for this start and held in
 * memory only; the login link that carries it is printed.
 */
@Command(
    name = "dashboard",
    mixinStandardHelpOptions = true,
    description = {
      "Serves the dashboard over the run directories in a runs directory, read-only, with no coordinator: runs, their",
      "charts, events and hard examples, and Compare. Runs still being written are followed as they grow.",
      "It listens on 127.0.0.1 only and prints a login link (a token made for this start); Ctrl-C stops it."
    })
final class DashboardCommand implements Callable<Integer> {
  static final int DEFAULT_PORT = 8090;

  @Option(names = "--runs-dir", paramLabel = "DIR",
      description = "the runs directory to serve (env QUARRY_RUNS_DIR, default runs)")
  Path runsDir;

  @Option(names = "--port", paramLabel = "PORT",
      description = "the port on 127.0.0.1 (default " + DEFAULT_PORT + "; 0 picks a free one)")
  Integer port;

  @Override
  public Integer call() {
    Path runs = runsDir != null ? runsDir : Path.of(System.getenv().getOrDefault("QUARRY_RUNS_DIR", "runs"));
    int listen = port != null ? port : DEFAULT_PORT;
    if (listen < 0 || listen > 65535) {
      System.err.println("quarry dashboard: --port: invalid value " + listen + "; allowed: 0 to 65535");
      return QuarryCli.EXIT_USAGE;
    }
    if (!Files.isDirectory(runs)) {
      System.err.println("quarry dashboard: --runs-dir: " + runs.toAbsolutePath() + " is not a directory");
      return QuarryCli.EXIT_USAGE;
    }
    String token = ApiTokens.newToken();
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "quarry-dashboard",
        ConfigFactory.parseString("pekko.actor.provider = local").withFallback(ConfigFactory.load()));
    ServerBinding binding;
    try {
      binding = DashboardServer.bind(system, runs, ApiTokens.single(ApiTokens.Role.READ, token), "127.0.0.1", listen)
          .toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      System.err.println("quarry dashboard: cannot listen on 127.0.0.1:" + listen + ": " + e.getMessage());
      system.terminate();
      return QuarryCli.EXIT_FAILED;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(system::terminate));
    int bound = binding.localAddress().getPort();
    System.out.println("quarry dashboard: run directories in " + runs.toAbsolutePath() + ", read-only, at "
        + "http://127.0.0.1:" + bound + "/");
    System.out.println("quarry dashboard: open http://127.0.0.1:" + bound + "/login?token=" + token
        + " to log in (the token is valid until this process stops)");
    System.out.flush();
    system.getWhenTerminated().toCompletableFuture().join();
    return QuarryCli.EXIT_COMPLETED;
  }
}
