package io.quarry.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap;
import org.apache.pekko.management.javadsl.PekkoManagement;

/**
 * How a node finds the cluster on Kubernetes ({@code --discovery kubernetes-api}): pekko-management serves the
 * health probes and the bootstrap routes on the management port, and cluster bootstrap asks the API server for the
 * coordinator pods, then joins the cluster they advertise, or (coordinators only) forms it. Settings in
 * {@code kubernetes.conf}.
 */
final class KubernetesBootstrap {
  /** The {@code --discovery} value. */
  static final String METHOD = "kubernetes-api";
  /** Pekko Management's port (PMAN on a telephone keypad); the pods' container port named {@code management}. */
  static final int DEFAULT_MANAGEMENT_PORT = 7626;

  private KubernetesBootstrap() {}

  /**
   * The settings of a node at {@code host} whose management endpoint listens on {@code managementPort}. Only a node
   * that {@code mayFormCluster} (a coordinator) may start a new cluster; a worker waits for one to join.
   */
  static Config config(String host, int managementPort, boolean mayFormCluster) {
    if (managementPort < 1 || managementPort > 65535) {
      throw new IllegalArgumentException("--management-port: " + managementPort + " is out of range; allowed: 1-65535");
    }
    return ConfigFactory.empty()
        .withValue("pekko.management.http.hostname", ConfigValueFactory.fromAnyRef(host))
        .withValue("pekko.management.http.port", ConfigValueFactory.fromAnyRef(managementPort))
        .withValue("pekko.management.cluster.bootstrap.new-cluster-enabled", ConfigValueFactory.fromAnyRef(mayFormCluster))
        .withFallback(ConfigFactory.parseResources("kubernetes.conf"));
  }

  /** Starts the management endpoint and the bootstrap; the node joins once it has found the cluster. */
  static void start(ActorSystem<?> system) {
    try {
      PekkoManagement.get(system).start().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      throw new IllegalStateException("cannot serve the management endpoint (probes, bootstrap) on port "
          + system.settings().config().getInt("pekko.management.http.port") + ": " + cause.getMessage()
          + " (--management-port, QUARRY_MANAGEMENT_PORT)", cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while starting the management endpoint", e);
    }
    ClusterBootstrap.get(system).start();
  }
}
