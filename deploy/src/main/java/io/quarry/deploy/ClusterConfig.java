package io.quarry.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The Pekko settings of one cluster node: Artery on a host and port over a transport, its roles, and the seed nodes
 * to join. Precedence: these arguments, then {@code -D} system properties, then a layer of the caller's (on Kubernetes:
 * {@code kubernetes.conf}), then {@code cluster.conf}, then the application and reference configs.
 */
public final class ClusterConfig {
  public static final String SYSTEM_NAME = "quarry";
  static final Set<String> TRANSPORTS = Set.of("tcp", "aeron-udp", "tls-tcp");

  private ClusterConfig() {}

  /**
   * The config of a node. For {@code aeron-udp} it also gives the node its own media-driver directory and sets the
   * {@code aeron.term.buffer.length} system property (see {@link AeronMediaDriverSettings}), so call it just before
   * the actor system starts.
   */
  public static Config of(String host, int port, List<String> seedNodes, List<String> roles, String transport) {
    return of(host, port, seedNodes, roles, transport, ConfigFactory.empty());
  }

  /**
   * The config of a node, with {@code layer} between the {@code -D} system properties and {@code cluster.conf}
   * (on Kubernetes: {@code kubernetes.conf} and the management endpoint's host and port).
   */
  public static Config of(String host, int port, List<String> seedNodes, List<String> roles, String transport,
      Config layer) {
    if (!TRANSPORTS.contains(transport)) {
      throw new IllegalArgumentException("--transport: '" + transport + "' is not a transport; allowed: aeron-udp, tcp, tls-tcp");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--port: " + port + " is out of range; allowed: 0-65535");
    }
    List<String> seeds = new ArrayList<>();
    for (String seed : seedNodes) seeds.add(seedAddress(seed));
    Config config = ConfigFactory.empty()
        .withValue("pekko.actor.provider", ConfigValueFactory.fromAnyRef("cluster"))
        .withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef(transport))
        .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(host))
        .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port))
        .withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(roles))
        .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seeds))
        .withFallback(ConfigFactory.defaultOverrides())
        .withFallback(layer)
        .withFallback(ConfigFactory.parseResources("cluster.conf"))
        .withFallback(ConfigFactory.load())
        .resolve();
    return transport.equals("aeron-udp") ? AeronMediaDriverSettings.apply(config) : config;
  }

  /** {@code host:port} (or a full {@code pekko://quarry@host:port} address) as a seed-node address. */
  static String seedAddress(String seed) {
    if (seed.startsWith("pekko://")) return seed;
    int colon = seed.lastIndexOf(':');
    if (colon <= 0 || colon == seed.length() - 1) {
      throw new IllegalArgumentException("--seed-nodes: '" + seed + "' is not host:port");
    }
    try {
      int port = Integer.parseInt(seed.substring(colon + 1));
      if (port < 1 || port > 65535) throw new NumberFormatException();
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--seed-nodes: '" + seed + "' has no valid port (1-65535)");
    }
    return "pekko://" + SYSTEM_NAME + "@" + seed;
  }
}
