package io.quarry.worker.collective;

import java.net.InetSocketAddress;
import java.util.List;

/**
 * One ring: its epoch (newer rings have larger ones), the members' data-plane addresses in ring order (each sends to
 * the next, the last to the first), and which of them this member is.
 */
public record RingSpec(long epoch, int rank, List<InetSocketAddress> members) {
  public RingSpec {
    members = List.copyOf(members);
    if (members.isEmpty()) throw new IllegalArgumentException("a ring of epoch " + epoch + " without members");
    if (rank < 0 || rank >= members.size()) {
      throw new IllegalArgumentException("rank " + rank + " is not in the ring of " + members.size() + " members");
    }
  }

  public int size() {
    return members.size();
  }

  /** Where this member sends: the next member's data plane. */
  public InetSocketAddress right() {
    return members.get((rank + 1) % members.size());
  }

  /** The rank this member receives from. */
  public int leftRank() {
    return (rank + members.size() - 1) % members.size();
  }
}
