package io.quarry.coordinator.run;

import io.quarry.protocol.DistributedRank;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The ranks of a run whose shards form one process group ({@code process.distributed = torch}), as plain logic: the
 * group gathers a worker per rank, starts them together, and when any rank fails, hangs or loses its worker, it
 * stops the others and starts all of them again from rank 0's last checkpoint, up to {@code max-attempts} starts.
 *
 * <p>Phases: {@link Phase#GATHERING} (offered workers are held until there is one per rank), {@link Phase#STARTING}
 * (every shard is assigned; rank 0 has gone out and its worker is picking the rendezvous port), {@link Phase#RUNNING}
 * (every rank has gone out), {@link Phase#RESTARTING} (a rank was lost: the others are being stopped; once none is
 * active the group gathers again). Shard {@code r} is rank {@code r}; ranks on one host are consecutive, as torchrun
 * numbers them, so {@code LOCAL_RANK} and {@code GROUP_RANK} follow from the hosts of the gathered workers.
 *
 * <p>Elastic ({@code process.min-ranks} below the ranks): a restart that holds at least {@code minRanks} workers but not
 * one per rank {@link #mayStartSmaller may start smaller} (the caller decides when: after the last call); its world
 * size is then the workers it holds. Every start gathers for all the ranks again, so a smaller group grows back at its
 * next restart when workers are free. The first start is always whole (the run is a gang).
 *
 * @param <W> how the run reaches a worker (an actor ref in the run actor, anything in tests)
 */
public final class RankGroup<W> {
  /** Where the group is in its start or restart. */
  public enum Phase {
    GATHERING,
    STARTING,
    RUNNING,
    RESTARTING
  }

  /** A worker held for a rank. {@code host} groups ranks into torchrun's nodes. */
  public record Member<W>(String workerId, String host, W worker) {}

  private final int ranks;
  private final int minRanks;
  private final int maxAttempts;
  private final List<Member<W>> members = new ArrayList<>();
  private Phase phase = Phase.GATHERING;
  /** Starts of the group so far (the first included). */
  private int starts;
  private String cause = "";
  private String masterAddr = "";
  private int masterPort;
  /** Ranks 1.. of the current start have gone out (rank 0's endpoint came). */
  private boolean othersSent;

  /** A group that restarts only whole ({@code minRanks = ranks}). */
  public RankGroup(int ranks, int maxAttempts) {
    this(ranks, ranks, maxAttempts);
  }

  /**
   * @param ranks the group's ranks, one shard and one worker each
   * @param minRanks the fewest ranks a restart may start with ({@code process.min-ranks}); {@code ranks}: only whole
   * @param maxAttempts how many times the group may start (the run's {@code max-attempts}): restarts are one fewer
   */
  public RankGroup(int ranks, int minRanks, int maxAttempts) {
    if (ranks < 1) throw new IllegalArgumentException("a process group needs at least one rank, not " + ranks);
    if (minRanks < 1 || minRanks > ranks) {
      throw new IllegalArgumentException("a process group of " + ranks + " ranks needs min-ranks 1 to " + ranks
          + ", not " + minRanks);
    }
    this.ranks = ranks;
    this.minRanks = minRanks;
    this.maxAttempts = Math.max(1, maxAttempts);
  }

  public Phase phase() {
    return phase;
  }

  public int ranks() {
    return ranks;
  }

  public int minRanks() {
    return minRanks;
  }

  /** The ranks of the current start ({@code WORLD_SIZE}): {@link #ranks}, or fewer for an elastic restart. */
  public int worldSize() {
    return phase == Phase.GATHERING ? ranks : members.size();
  }

  /** The workers held while gathering; the ranks of the start otherwise. */
  public int holding() {
    return members.size();
  }

  /** {@code TORCHELASTIC_RESTART_COUNT} of the group's current (or next) start. */
  public int restartCount() {
    return Math.max(0, phase == Phase.GATHERING ? starts : starts - 1);
  }

  /** {@code TORCHELASTIC_MAX_RESTARTS}. */
  public int maxRestarts() {
    return maxAttempts - 1;
  }

  /** Why the group last restarted; empty before any restart. */
  public String cause() {
    return cause;
  }

  /**
   * A worker is offered to the run: held for a rank while the group gathers and has room; else declined (false). The
   * caller starts the group once it is {@link #full()}.
   */
  public boolean offer(String workerId, String host, W worker) {
    if (phase != Phase.GATHERING || full()) return false;
    for (Member<W> member : members) if (member.workerId().equals(workerId)) return false;
    members.add(new Member<>(workerId, host == null ? "" : host, worker));
    return true;
  }

  /** A worker per rank is held. */
  public boolean full() {
    return members.size() == ranks;
  }

  /**
   * A restart (never the first start) gathers and holds at least {@code minRanks} workers, but not one per rank: it
   * may start with those it holds. The caller decides when (after the last call, so the missing may come back).
   */
  public boolean mayStartSmaller() {
    return phase == Phase.GATHERING && starts > 0 && members.size() >= minRanks && members.size() < ranks;
  }

  /** How many workers the group still waits for before it can start; 0 once it has started. */
  public int missing() {
    return phase == Phase.GATHERING ? ranks - members.size() : 0;
  }

  /**
   * What the group waits for, for the run's status while it gathers: how many workers it still needs at once, and
   * why it gathers again after a restart.
   */
  public String waitingFor() {
    String restart = starts == 0 ? "" : " (restart " + restartCount() + " of at most " + maxRestarts() + ": " + cause + ")";
    String elastic = starts == 0 || minRanks == ranks ? ""
        : "; with process.min-ranks = " + minRanks + " it starts with fewer once it holds at least " + minRanks
            + " and the rest do not come within process.last-call";
    return "waiting for " + missing() + " more of the " + ranks + " workers its process group needs at once "
        + "(process.distributed = torch starts every rank together)" + restart + elastic;
  }

  /**
   * The held workers in rank order (those of one host consecutive, hosts in the order their first worker came), and
   * the group {@link Phase#STARTING}: rank 0 goes out first, the others once its endpoint is known. The group starts
   * whole, or smaller when it {@link #mayStartSmaller may}: its world size is the workers it holds.
   */
  public List<Member<W>> start() {
    if (phase != Phase.GATHERING || !(full() || mayStartSmaller())) {
      throw new IllegalStateException("the group cannot start: " + phase + " with " + members.size() + " of " + ranks);
    }
    Map<String, List<Member<W>>> byHost = new LinkedHashMap<>();
    for (Member<W> member : members) byHost.computeIfAbsent(member.host(), host -> new ArrayList<>()).add(member);
    members.clear();
    byHost.values().forEach(members::addAll);
    phase = Phase.STARTING;
    starts++;
    masterAddr = "";
    masterPort = 0;
    othersSent = false;
    return List.copyOf(members);
  }

  /** The workers of the current start, in rank order; empty while gathering. */
  public List<Member<W>> members() {
    return phase == Phase.GATHERING ? List.of() : List.copyOf(members);
  }

  /**
   * What rank {@code rank} is told: torchrun's values, with rank 0's endpoint once known ({@link #endpoint}; before,
   * an empty address and port 0, which is how rank 0's own assignment asks its worker to pick the port).
   */
  public DistributedRank rank(int rank) {
    Member<W> self = members.get(rank);
    List<String> hosts = new ArrayList<>();
    int localRank = 0;
    int localWorldSize = 0;
    for (int r = 0; r < members.size(); r++) {
      String host = members.get(r).host();
      if (!hosts.contains(host)) hosts.add(host);
      if (host.equals(self.host())) {
        if (r < rank) localRank++;
        localWorldSize++;
      }
    }
    return new DistributedRank(rank, members.size(), localRank, localWorldSize, hosts.indexOf(self.host()), hosts.size(),
        masterAddr, masterPort, restartCount(), maxRestarts());
  }

  /**
   * Rank 0's worker picked the rendezvous: the group is {@link Phase#RUNNING} and ranks 1.. go out now. Returns false
   * (nothing to do) unless the group was waiting for it.
   */
  public boolean endpoint(String addr, int port) {
    if (phase != Phase.STARTING) return false;
    masterAddr = addr;
    masterPort = port;
    phase = Phase.RUNNING;
    othersSent = true;
    return true;
  }

  /**
   * The workers of ranks 1.. of a start whose rank 0 never sent its endpoint (the start was lost or the run ended
   * first): their shards are assigned but they were never told, so the run ends those attempts itself. Empty once
   * the other ranks have gone out, and while gathering.
   */
  public List<Member<W>> unsent() {
    if (phase == Phase.GATHERING || othersSent || members.size() < 2) return List.of();
    return List.copyOf(members.subList(1, members.size()));
  }

  /**
   * A rank failed, hung, stopped on its own or lost its worker ({@code why}). When the group was starting or running,
   * it is now {@link Phase#RESTARTING} and the caller stops every other rank; returns false when the group already
   * knew (another rank's loss came first) or has not started.
   */
  public boolean rankLost(String why) {
    if (phase != Phase.STARTING && phase != Phase.RUNNING) return false;
    phase = Phase.RESTARTING;
    cause = why;
    return true;
  }

  /** True when the group has started {@code max-attempts} times: one more loss ends the run. */
  public boolean exhausted() {
    return starts >= maxAttempts;
  }

  /**
   * Every rank of the lost start has ended: the group gathers workers again (none is held: each asks for work anew).
   * Returns the cause of the restart.
   */
  public String restart() {
    if (phase != Phase.RESTARTING) throw new IllegalStateException("the group is " + phase + ", not restarting");
    phase = Phase.GATHERING;
    members.clear();
    return cause;
  }

  /**
   * A new coordinator incarnation found the group's ranks running (their workers may reclaim them): the group counts
   * as started and running, so that the loss of any rank, or one not reclaimed, restarts all of them.
   */
  public void adopted() {
    if (phase != Phase.GATHERING) return;
    members.clear();
    phase = Phase.RUNNING;
    starts = Math.max(starts, 1);
  }

  /** The workers held for ranks while the group gathers (accepted, but given no shard yet). */
  public List<String> held() {
    return phase == Phase.GATHERING ? members.stream().map(Member::workerId).toList() : List.of();
  }

  /** A held worker was lost before the group started: its place is free again. */
  public void workerLost(String workerId) {
    if (phase == Phase.GATHERING) members.removeIf(member -> member.workerId().equals(workerId));
  }

  public String masterAddr() {
    return masterAddr;
  }

  public int masterPort() {
    return masterPort;
  }
}
