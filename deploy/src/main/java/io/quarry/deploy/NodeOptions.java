package io.quarry.deploy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * Where a cluster node listens and whom it joins: flags, falling back to {@code QUARRY_*} environment variables
 * (which is how Kubernetes and systemd pass them).
 */
final class NodeOptions {
  @Option(names = "--host", paramLabel = "HOST",
      description = "address other nodes reach this one at (env QUARRY_HOST, default 127.0.0.1)")
  String host;

  @Option(names = "--port", paramLabel = "PORT",
      description = "Artery port (env QUARRY_PORT; default 2552 for a coordinator, 0 = any free port for a worker)")
  Integer port;

  @Option(names = "--seed-nodes", paramLabel = "HOST:PORT,...", split = ",",
      description = "nodes to join (env QUARRY_SEED_NODES); a coordinator started without seeds forms a new cluster")
  List<String> seedNodes = new ArrayList<>();

  @Option(names = "--discovery", paramLabel = "seed-nodes|kubernetes-api",
      description = "how the node finds the cluster (env QUARRY_DISCOVERY): seed-nodes (default: --seed-nodes), or "
          + "kubernetes-api (in a Kubernetes pod: the coordinator pods, asked of the API server; no seed nodes)")
  String discovery;

  @Option(names = "--management-port", paramLabel = "PORT",
      description = "with --discovery kubernetes-api: the port of the probes (/ready, /alive) and of cluster bootstrap "
          + "(env QUARRY_MANAGEMENT_PORT, default 7626)")
  Integer managementPort;

  @Option(names = "--transport", paramLabel = "tcp|aeron-udp|tls-tcp",
      description = "Artery transport (env QUARRY_TRANSPORT, default tcp; see BENCHMARKS.md)")
  String transport;

  String host(Map<String, String> env) {
    return firstOf(host, env.get("QUARRY_HOST"), "127.0.0.1");
  }

  int port(Map<String, String> env, int defaultPort) {
    if (port != null) return port;
    String fromEnv = env.get("QUARRY_PORT");
    if (fromEnv == null || fromEnv.isBlank()) return defaultPort;
    try {
      return Integer.parseInt(fromEnv.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("QUARRY_PORT: '" + fromEnv + "' is not a port number (0-65535)");
    }
  }

  List<String> seedNodes(Map<String, String> env) {
    if (!seedNodes.isEmpty()) return seedNodes;
    String fromEnv = env.get("QUARRY_SEED_NODES");
    if (fromEnv == null || fromEnv.isBlank()) return List.of();
    List<String> seeds = new ArrayList<>();
    for (String seed : fromEnv.split(",")) if (!seed.isBlank()) seeds.add(seed.trim());
    return seeds;
  }

  /** Whether the node finds the cluster through the Kubernetes API (else through its seed nodes). */
  boolean kubernetesDiscovery(Map<String, String> env) {
    String method = firstOf(discovery, env.get("QUARRY_DISCOVERY"), "seed-nodes");
    if (method.equals(KubernetesBootstrap.METHOD)) return true;
    if (method.equals("seed-nodes")) return false;
    throw new IllegalArgumentException("--discovery: '" + method + "' is not a discovery method; allowed: seed-nodes, "
        + KubernetesBootstrap.METHOD);
  }

  int managementPort(Map<String, String> env) {
    if (managementPort != null) return managementPort;
    String fromEnv = env.get("QUARRY_MANAGEMENT_PORT");
    if (fromEnv == null || fromEnv.isBlank()) return KubernetesBootstrap.DEFAULT_MANAGEMENT_PORT;
    try {
      return Integer.parseInt(fromEnv.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("QUARRY_MANAGEMENT_PORT: '" + fromEnv + "' is not a port number (1-65535)");
    }
  }

  /**
   * The cluster settings of this node: on Kubernetes, cluster bootstrap (a coordinator, {@code mayFormCluster}, may
   * form the cluster; seed nodes are refused); otherwise its seed nodes. {@code extra} goes on top (a worker's
   * allowances).
   */
  com.typesafe.config.Config clusterConfig(Map<String, String> env, int defaultPort, String role, boolean mayFormCluster,
      com.typesafe.config.Config extra) {
    String address = host(env);
    int arteryPort = port(env, defaultPort);
    if (!kubernetesDiscovery(env)) {
      return extra.withFallback(ClusterConfig.of(address, arteryPort, seedNodes(env), List.of(role), transport(env)));
    }
    if (!seedNodes(env).isEmpty()) {
      throw new IllegalArgumentException("--seed-nodes: " + seedNodes(env) + " given with --discovery "
          + KubernetesBootstrap.METHOD + "; allowed: one of them (on Kubernetes the nodes find each other through the "
          + "API server)");
    }
    return extra.withFallback(ClusterConfig.of(address, arteryPort, List.of(), List.of(role), transport(env),
        KubernetesBootstrap.config(address, managementPort(env), mayFormCluster)));
  }

  String transport(Map<String, String> env) {
    return firstOf(transport, env.get("QUARRY_TRANSPORT"), "tcp");
  }

  private static String firstOf(String flag, String env, String fallback) {
    if (flag != null && !flag.isBlank()) return flag;
    if (env != null && !env.isBlank()) return env.trim();
    return fallback;
  }
}
