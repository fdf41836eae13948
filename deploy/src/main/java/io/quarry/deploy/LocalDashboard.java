package io.quarry.deploy;

import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.HttpApi;
import java.io.PrintStream;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.http.javadsl.ServerBinding;

/**
 * {@code quarry local --dashboard}: the local coordinator's API and dashboard on 127.0.0.1 for as long as the local
 * run lasts, behind an {@code operate} token made for this start (held in memory, never written) whose login link is
 * printed on standard error (standard output stays the run's, for {@code --json}).
 */
final class LocalDashboard {
  private LocalDashboard() {}

  /** Serves {@code cluster}'s dashboard on {@code port} (null: the default); says where on {@code err}. */
  static ServerBinding serve(LocalCluster cluster, Integer port, PrintStream err) throws Exception {
    int listen = port != null ? port : DashboardCommand.DEFAULT_PORT;
    String token = ApiTokens.newToken();
    ServerBinding binding = HttpApi.bind(cluster.system(), cluster.coordinator(),
            ApiTokens.single(ApiTokens.Role.OPERATE, token), "127.0.0.1", listen, Optional.empty(),
            new DashboardSweeps(256))
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    int bound = binding.localAddress().getPort();
    err.println("quarry local: dashboard at http://127.0.0.1:" + bound + "/login?token=" + token
        + " (while this run lasts)");
    err.flush();
    return binding;
  }
}
