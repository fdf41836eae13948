package io.quarry.protocol;

/**
 * One rank of a run whose shards form one {@code torch.distributed} process group ({@code process.distributed =
 * torch}): what torchrun would tell that rank, as the run hands it out with the shard's assignment. The worker puts
 * these values into the program's environment under torchrun's names.
 *
 * @param rank {@code RANK} (and {@code ROLE_RANK}): the shard's index
 * @param worldSize {@code WORLD_SIZE} (and {@code ROLE_WORLD_SIZE}): the ranks of the group
 * @param localRank {@code LOCAL_RANK}: the rank's index among the group's ranks on its host
 * @param localWorldSize {@code LOCAL_WORLD_SIZE}: the group's ranks on the rank's host
 * @param groupRank {@code GROUP_RANK}: the index of the rank's host among the group's hosts (torchrun's node rank)
 * @param groupWorldSize {@code GROUP_WORLD_SIZE}: the group's hosts
 * @param masterAddr {@code MASTER_ADDR}: rank 0's host
 * @param masterPort {@code MASTER_PORT}: a free port on rank 0's host; 0 in rank 0's own assignment, whose worker
 *     picks the port and reports it ({@link RunCommand.RankEndpoint}) before the other ranks are handed out
 * @param restartCount {@code TORCHELASTIC_RESTART_COUNT}: how many times the group has been restarted
 * @param maxRestarts {@code TORCHELASTIC_MAX_RESTARTS}: the run's {@code max-attempts} less one
 */
public record DistributedRank(
    int rank,
    int worldSize,
    int localRank,
    int localWorldSize,
    int groupRank,
    int groupWorldSize,
    String masterAddr,
    int masterPort,
    int restartCount,
    int maxRestarts)
    implements QuarryMessage {

  /** This rank with rank 0's endpoint filled in. */
  public DistributedRank withMaster(String addr, int port) {
    return new DistributedRank(rank, worldSize, localRank, localWorldSize, groupRank, groupWorldSize, addr, port,
        restartCount, maxRestarts);
  }
}
