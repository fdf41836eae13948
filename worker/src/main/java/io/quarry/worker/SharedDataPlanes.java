package io.quarry.worker;

import io.quarry.worker.collective.DataPlaneEndpoint;
import io.quarry.worker.collective.DataPlaneSettings;
import io.quarry.worker.collective.HierarchicalRing;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * This JVM's all-reduce data planes: one per run (and listening address), shared by the run's shard attempts in this
 * JVM (local mode's workers, a node's devices). Sharing the address is what tells every ring member which members
 * live in one JVM ({@link HierarchicalRing}); sharing the ring object of an epoch is how they meet. A plane closes
 * when its last attempt lets go.
 */
final class SharedDataPlanes {
  private record Key(String runId, String host, int port) {}

  /** Guarded by the class. */
  private static final Map<Key, Plane> PLANES = new HashMap<>();

  private SharedDataPlanes() {}

  /** The run's plane in this JVM, opened on {@code host:port} (port 0: any free one) by its first user. */
  static Plane acquire(String runId, String host, int port) throws IOException {
    synchronized (SharedDataPlanes.class) {
      Key key = new Key(runId, host, port);
      Plane plane = PLANES.get(key);
      if (plane == null) {
        plane = new Plane(key, DataPlaneEndpoint.open(new InetSocketAddress(host, port)));
        PLANES.put(key, plane);
      }
      plane.users++;
      return plane;
    }
  }

  /** One run's data plane in this JVM and the rings its members are on. */
  static final class Plane {
    /** Rings kept for members that learn of an epoch later than their neighbours in this JVM. */
    private static final int KEPT_RINGS = 8;

    private final Key key;
    private final DataPlaneEndpoint endpoint;
    /** Guarded by SharedDataPlanes.class. */
    private int users;
    /** Guarded by {@code this}. */
    private final TreeMap<Long, HierarchicalRing> rings = new TreeMap<>();

    private Plane(Key key, DataPlaneEndpoint endpoint) {
      this.key = key;
      this.endpoint = endpoint;
    }

    InetSocketAddress address() {
      return endpoint.address();
    }

    /** Ring {@code epoch} of these members as this JVM's members share it; {@code rank}: one of them here. */
    synchronized HierarchicalRing ring(long epoch, List<InetSocketAddress> members, int rank, DataPlaneSettings settings) {
      HierarchicalRing ring = rings.get(epoch);
      if (ring == null || !ring.isLocal(rank)) {
        ring = new HierarchicalRing(endpoint, epoch, members, rank, settings.chunkBytes(),
            settings.socketBufferBytes());
        rings.put(epoch, ring);
        while (rings.size() > KEPT_RINGS) rings.pollFirstEntry();
      }
      return ring;
    }

    /** One user is done; the last one closes the plane. */
    void release() {
      synchronized (SharedDataPlanes.class) {
        if (--users > 0) return;
        PLANES.remove(key);
      }
      synchronized (this) {
        rings.values().forEach(HierarchicalRing::close);
        rings.clear();
      }
      endpoint.close();
    }
  }
}
