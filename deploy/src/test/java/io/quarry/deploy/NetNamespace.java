package io.quarry.deploy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A second host for multi-JVM tests: a Linux network namespace joined to this one by a veth pair. This side of the
 * link has {@link #hostAddress()} ({@code 10.203.N.1}), the namespace {@link #nsAddress()} ({@code 10.203.N.2}), N
 * random, so that concurrent test runs on one machine do not share a subnet; names carry a random suffix. Start JVMs
 * inside with {@link NodeProcesses#start(String, NetNamespace, java.util.Map, String...)}; {@link #partition()}
 * takes the namespace's end of the link down (neither side reaches the other: a cut cable), {@link #heal()} brings it
 * back. {@link #close()} deletes the namespace and the link; kill the JVMs inside first (a process in a namespace
 * keeps it alive).
 *
 * <p>Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's {@code ip}; when a namespace cannot be made, {@link
 * #create} fails with what is missing, never skips.
 */
final class NetNamespace implements AutoCloseable {
  private final String name;
  private final String hostLink;
  private final String nsLink;
  private final String hostAddress;
  private final String nsAddress;
  private final List<String> made = new ArrayList<>();
  private boolean partitioned;

  private NetNamespace(String suffix, int subnet) {
    this.name = "quarry-" + suffix;
    this.hostLink = "qh-" + suffix;
    this.nsLink = "qn-" + suffix;
    this.hostAddress = "10.203." + subnet + ".1";
    this.nsAddress = "10.203." + subnet + ".2";
  }

  /** A new namespace and link, both ends up; throws an {@link AssertionError} naming what is missing if it cannot. */
  static NetNamespace create() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    NetNamespace ns = new NetNamespace(Integer.toHexString(random.nextInt(0x100000, 0x1000000)), freeSubnet());
    try {
      ns.ip("netns", "add", ns.name);
      ns.made.add("netns");
      ns.ip("link", "add", ns.hostLink, "type", "veth", "peer", "name", ns.nsLink);
      ns.made.add("link");
      ns.ip("link", "set", ns.nsLink, "netns", ns.name);
      ns.ip("addr", "add", ns.hostAddress + "/24", "dev", ns.hostLink);
      ns.ip("link", "set", ns.hostLink, "up");
      ns.inside("ip", "addr", "add", ns.nsAddress + "/24", "dev", ns.nsLink);
      ns.inside("ip", "link", "set", ns.nsLink, "up");
      ns.inside("ip", "link", "set", "lo", "up");
      return ns;
    } catch (HostCommands.Failed e) {
      ns.close();
      throw new AssertionError("cannot make a network namespace joined by a veth pair for this test: " + e.getMessage()
          + ". These tests need to run as root (CAP_NET_ADMIN, CAP_SYS_ADMIN) with iproute2's `ip` on the PATH "
          + "(scripts/install-test-deps.sh installs iproute2)", e);
    }
  }

  /** A 10.203.N.0/24 that no interface of this host uses yet (a leftover of a killed test run may). */
  private static int freeSubnet() {
    String inUse;
    try {
      inUse = HostCommands.run(List.of("ip", "-o", "-4", "addr", "show"));
    } catch (HostCommands.Failed e) {
      inUse = ""; // create() reports what is missing
    }
    for (int tries = 0; tries < 50; tries++) {
      int subnet = ThreadLocalRandom.current().nextInt(1, 255);
      if (!inUse.contains(" 10.203." + subnet + ".")) return subnet;
    }
    throw new AssertionError("no free 10.203.N.0/24 subnet on this host: " + inUse);
  }

  /** The namespace's name (for {@code ip netns exec}). */
  String name() {
    return name;
  }

  /** This side's address on the link: nodes outside the namespace bind it to be reachable from inside. */
  String hostAddress() {
    return hostAddress;
  }

  /** The namespace's address on the link. */
  String nsAddress() {
    return nsAddress;
  }

  /** What runs a command inside the namespace: {@code ip netns exec NAME}, then the command (exec'd: same pid). */
  List<String> commandPrefix() {
    return List.of("ip", "netns", "exec", name);
  }

  /** Cuts the link: the namespace's end goes down; nothing crosses either way until {@link #heal()}. */
  void partition() {
    inside("ip", "link", "set", nsLink, "down");
    partitioned = true;
  }

  /** Brings the link back up after {@link #partition()}. */
  void heal() {
    inside("ip", "link", "set", nsLink, "up");
    partitioned = false;
  }

  boolean partitioned() {
    return partitioned;
  }

  private void ip(String... args) {
    List<String> command = new ArrayList<>(List.of("ip"));
    command.addAll(List.of(args));
    HostCommands.run(command);
  }

  private void inside(String... command) {
    List<String> full = new ArrayList<>(commandPrefix());
    full.addAll(List.of(command));
    HostCommands.run(full);
  }

  /** Deletes the namespace (its end of the link goes with it) and this side's end; quiet about what is gone already. */
  @Override
  public void close() {
    if (made.contains("netns")) {
      try {
        ip("netns", "delete", name);
      } catch (HostCommands.Failed e) {
        System.err.println("NetNamespace: " + e.getMessage());
      }
    }
    if (made.contains("link")) {
      try {
        ip("link", "delete", hostLink);
      } catch (HostCommands.Failed e) {
        // Deleted with the namespace's end (veth ends go in pairs), possibly a moment later: try again once.
        try {
          Thread.sleep(200);
          if (HostCommands.run(List.of("ip", "-o", "link", "show")).contains(" " + hostLink + "@")) {
            ip("link", "delete", hostLink);
          }
        } catch (HostCommands.Failed | InterruptedException again) {
          System.err.println("NetNamespace: cannot delete " + hostLink + ": " + again.getMessage());
        }
      }
    }
    made.clear();
  }

  @Override
  public String toString() {
    return "namespace " + name + " (" + nsAddress + " <-> " + hostAddress + ")";
  }
}
