package io.quarry.worker.collective;

import com.typesafe.config.Config;

/**
 * {@code quarry.worker.data-plane}: where a worker's data plane listens and how its ring moves bytes.
 *
 * @param host the address to listen on and to give the other ring members; empty: the node's own (Pekko's canonical
 *     hostname), or 127.0.0.1 for a node without remoting
 * @param port the TCP port; 0: any free one
 * @param chunkBytes bytes read and added at a time
 * @param socketBufferBytes SO_SNDBUF and SO_RCVBUF of ring connections; 0: the kernel's auto-tuned sizes
 */
public record DataPlaneSettings(String host, int port, int chunkBytes, int socketBufferBytes) {
  public static DataPlaneSettings from(Config dataPlane) {
    int chunkBytes = (int) dataPlane.getBytes("chunk-bytes").longValue();
    if (chunkBytes < 4 || chunkBytes % 4 != 0) {
      throw new IllegalArgumentException("quarry.worker.data-plane.chunk-bytes: " + chunkBytes + " is not a positive "
          + "multiple of 4; allowed: e.g. 1 MiB");
    }
    return new DataPlaneSettings(dataPlane.getString("host"), dataPlane.getInt("port"), chunkBytes,
        (int) dataPlane.getBytes("socket-buffer-bytes").longValue());
  }
}
