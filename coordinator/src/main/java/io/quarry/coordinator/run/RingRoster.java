package io.quarry.coordinator.run;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Who is on a run's all-reduce ring ({@code sync.transport = ring}), as plain logic: the run actor feeds it the shard
 * attempts' data planes and what happens to them, and sends every ring it answers to the ring's members. No parameter
 * byte passes here; a ring is a list of addresses under an epoch.
 *
 * <p>The members are the shards' current attempts that have joined, in shard order. The first ring waits until every
 * shard the run has not finished has joined (a gang start: N workers × batch B then train as one worker × N·B from
 * the first step), or until the caller's formation timeout ({@link #formationTimedOut}: {@code sync.timeout}) for the
 * shards that have no worker yet. After that every change is published at once under a new epoch: a member leaving
 * (done, failed, stopped, lost), an attempt joining (a shard that starts late, or again elsewhere), and a ring that
 * aborted ({@link #aborted}: the caller waits {@link #REFORM_DELAY_MS} first, so a member that died but is not yet
 * known lost is not tried again and again at the pace of a training step). Epochs grow across coordinator
 * incarnations too ({@code incarnation << 24} onwards), so a worker can always tell the newer ring.
 *
 * @param <A> where a member's ring goes (the worker's actor ref; anything in tests)
 */
public final class RingRoster<A> {
  /** How long after an abort the same members are put on a new ring (unless the membership changes meanwhile). */
  public static final long REFORM_DELAY_MS = 1_000;

  /** One member: a shard attempt, where its ring goes, and its data plane's address. */
  public record Member<A>(int shard, int attempt, A replyTo, String host, int port) {}

  /** A ring to publish: every member gets it. */
  public record Ring<A>(long epoch, List<Member<A>> members) {}

  private final TreeMap<Integer, Member<A>> members = new TreeMap<>();
  private long epoch;
  private boolean published;

  /** {@code incarnation}: the coordinator's; its rings' epochs start at {@code incarnation << 24}. */
  public RingRoster(long incarnation) {
    this.epoch = incarnation << 24;
  }

  /** The epoch of the newest ring (before the first: below every ring's). */
  public long epoch() {
    return epoch;
  }

  /** Whether the first ring has been published. */
  public boolean formed() {
    return published;
  }

  /**
   * A shard attempt's data plane is listening.
   *
   * @param unfinished the run's shards that are not done (pending ones included): the first ring waits for them all
   * @return the ring to publish now; empty while the first ring waits (the caller's formation timeout runs)
   */
  public Optional<Ring<A>> join(Member<A> member, int unfinished) {
    Member<A> previous = members.put(member.shard(), member);
    if (member.equals(previous) && published) return Optional.empty();
    if (published || members.size() >= unfinished) return Optional.of(publish());
    return Optional.empty();
  }

  /** The first ring's formation timeout has passed: it forms with the members that have joined. */
  public Optional<Ring<A>> formationTimedOut() {
    if (published || members.isEmpty()) return Optional.empty();
    return Optional.of(publish());
  }

  /**
   * The shard's attempt ended or was given up on: a ring without it, if one was published and members remain.
   *
   * @param unfinished as for {@link #join}, after the change
   */
  public Optional<Ring<A>> leave(int shard, int unfinished) {
    if (members.remove(shard) == null) return Optional.empty();
    if (members.isEmpty()) return Optional.empty();
    if (published || members.size() >= unfinished) return Optional.of(publish());
    return Optional.empty();
  }

  /**
   * A round of ring {@code abortedEpoch} aborted on the member of shard {@code shard}, attempt {@code attempt}.
   *
   * @return true when the caller should call {@link #reform} with this epoch after {@link #REFORM_DELAY_MS}: it is the
   *     newest ring and the reporter is on it (later reports of the same ring, and reports of older rings, are not)
   */
  public boolean aborted(int shard, int attempt, long abortedEpoch) {
    Member<A> member = members.get(shard);
    return published && abortedEpoch == epoch && member != null && member.attempt() == attempt;
  }

  /** The same members on a new ring, unless a ring newer than {@code abortedEpoch} was published meanwhile. */
  public Optional<Ring<A>> reform(long abortedEpoch) {
    if (abortedEpoch != epoch || members.isEmpty()) return Optional.empty();
    return Optional.of(publish());
  }

  private Ring<A> publish() {
    published = true;
    epoch++;
    return new Ring<>(epoch, List.copyOf(new ArrayList<>(members.values())));
  }
}
