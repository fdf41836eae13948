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

  String transport(Map<String, String> env) {
    return firstOf(transport, env.get("QUARRY_TRANSPORT"), "tcp");
  }

  private static String firstOf(String flag, String env, String fallback) {
    if (flag != null && !flag.isBlank()) return flag;
    if (env != null && !env.isBlank()) return env.trim();
    return fallback;
  }
}
