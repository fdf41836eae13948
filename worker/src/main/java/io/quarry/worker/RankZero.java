package io.quarry.worker;

import io.quarry.protocol.DistributedRank;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand.AssignShard;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;

/**
 * Rank 0 of a run's process group hosts its rendezvous ({@code MASTER_ADDR}:{@code MASTER_PORT}, torch's TCPStore):
 * its worker picks a free port on this host and tells the run, which hands out the other ranks with it. The port is
 * found by binding port 0 and closing it again, as torchrun itself does for {@code --master-port} left unset.
 */
final class RankZero {
  private RankZero() {}

  /**
   * {@code message} as it is, unless it hands this worker rank 0 without an endpoint yet: then with a free port of this
   * host filled in, after telling the run ({@link RunCommand.RankEndpoint}).
   *
   * @param host the address other hosts reach this one at (its cluster address's host)
   */
  static AssignShard hostRendezvous(AssignShard message, String workerId, String host) {
    ShardAssignment assignment = message.assignment();
    DistributedRank rank = assignment.rank();
    if (rank == null || rank.rank() != 0 || rank.masterPort() != 0) return message;
    int port = freePort();
    message.run().tell(new RunCommand.RankEndpoint(message.spec().runId(), assignment.shard(), assignment.attempt(),
        workerId, host, port));
    return new AssignShard(message.incarnation(), message.spec(), assignment.withRank(rank.withMaster(host, port)),
        message.run());
  }

  /** A TCP port nothing listens on right now. */
  static int freePort() {
    try (ServerSocket socket = new ServerSocket(0)) {
      socket.setReuseAddress(true);
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot find a free port for the process group's rendezvous", e);
    }
  }
}
