package io.quarry.coordinator.run;

import io.quarry.protocol.RunStatus;
import io.quarry.protocol.ShardState;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * The lifecycle of every shard of one run, as plain logic: {@code PENDING -> ASSIGNED -> RUNNING -> DONE | FAILED}.
 * A failed attempt goes back to PENDING with attempt+1 until the shard has failed {@code maxAttempts} times; an
 * orphaned attempt (its worker was lost) goes back to PENDING with attempt+1 without counting as a failure.
 * Reports of an attempt the table has moved past are stale and ignored.
 */
public final class ShardTable {
  /** One shard's state. Fields are read by the run actor; only this table changes them. */
  public static final class Shard {
    public final int index;
    /** The shard's slice and steps; a process group that starts with fewer ranks re-cuts them ({@link #regroup}). */
    public long firstSample;
    public long sampleCount;
    public long totalSteps;
    /** Past the world size of a smaller process group: no samples, DONE with 0 of 0 steps until the group regrows. */
    boolean folded;
    ShardState state = ShardState.PENDING;
    int attempt = 1;
    int failures;
    String workerId;
    String lastCheckpoint;
    long checkpointStep;
    long startStep;
    long progressStep;
    long endStep;
    String lastFailure = "";
    /** Recovered from the store as running on a worker that has not yet reclaimed it under this coordinator. */
    boolean unclaimed;
    /** The highest attempt number given out for this shard (main attempts and speculative copies share them). */
    int attemptsIssued = 1;
    /** A speculative copy of the running attempt on another worker, or null. The first of the two to finish wins. */
    Backup backup;
    /** The steps each attempt trained, for the steps trained more than once. */
    final StepSpans spans = new StepSpans();

    Shard(int index, long firstSample, long sampleCount, long totalSteps) {
      this.index = index;
      this.firstSample = firstSample;
      this.sampleCount = sampleCount;
      this.totalSteps = totalSteps;
    }

    public ShardState state() {
      return state;
    }

    public int attempt() {
      return attempt;
    }

    public int failures() {
      return failures;
    }

    public String workerId() {
      return workerId;
    }

    public String lastCheckpoint() {
      return lastCheckpoint;
    }

    public long checkpointStep() {
      return checkpointStep;
    }

    /** The highest shard step known to be reached: the end when done, else the furthest report of any source. */
    public long progressStep() {
      return state == ShardState.DONE ? endStep : progressStep;
    }

    public String lastFailure() {
      return lastFailure;
    }

    boolean active() {
      return state == ShardState.ASSIGNED || state == ShardState.RUNNING;
    }

    /** The speculative copy's worker, or null. */
    public String backupWorkerId() {
      return backup == null ? null : backup.workerId;
    }

    /** The speculative copy's attempt number, or 0. */
    public int backupAttempt() {
      return backup == null ? 0 : backup.attempt;
    }
  }

  /** A speculative copy of a straggling shard's running attempt. */
  static final class Backup {
    final String workerId;
    final int attempt;
    long progressStep;
    String lastCheckpoint;
    long checkpointStep;

    Backup(String workerId, int attempt, long fromStep) {
      this.workerId = workerId;
      this.attempt = attempt;
      this.progressStep = fromStep;
      this.checkpointStep = fromStep;
    }
  }

  /** What a failure report led to. */
  public enum FailureOutcome {
    STALE,
    RETRY,
    EXHAUSTED,
    /** The speculative copy failed (or the main attempt did and its copy took over): nothing to retry. */
    COPY_CONTINUES
  }

  private final List<Shard> shards;
  private final int maxAttempts;
  private final long samples;
  private final int batchSize;
  private final int epochs;
  /** The shards that hold samples: all of them, unless a process group runs with fewer ranks ({@link #regroup}). */
  private int worldSize;
  /** Steps redone that an earlier coordinator incarnation of the run counted. */
  private long stepsRedoneBefore;

  public ShardTable(List<ShardPlan.Slice> slices, int batchSize, int epochs, int maxAttempts) {
    List<Shard> list = new ArrayList<>(slices.size());
    for (ShardPlan.Slice slice : slices) {
      list.add(new Shard(slice.shard(), slice.firstSample(), slice.sampleCount(),
          ShardPlan.stepsFor(slice.sampleCount(), batchSize, epochs)));
    }
    this.shards = List.copyOf(list);
    this.maxAttempts = maxAttempts;
    this.samples = slices.stream().mapToLong(ShardPlan.Slice::sampleCount).sum();
    this.batchSize = batchSize;
    this.epochs = epochs;
    // A table the store kept while its process group ran smaller holds the shards past its world size with no samples.
    int holding = 0;
    while (holding < slices.size() && slices.get(holding).sampleCount() > 0) holding++;
    this.worldSize = Math.max(1, holding);
  }

  /** The shards that hold samples: {@link #size}, or the world size a process group last started with. */
  public int worldSize() {
    return worldSize;
  }

  public List<Shard> shards() {
    return shards;
  }

  public Shard shard(int index) {
    return shards.get(index);
  }

  public int size() {
    return shards.size();
  }

  /** The lowest-numbered PENDING shard, if any. */
  public OptionalInt nextPending() {
    for (Shard shard : shards) if (shard.state == ShardState.PENDING) return OptionalInt.of(shard.index);
    return OptionalInt.empty();
  }

  public boolean hasPending() {
    return nextPending().isPresent();
  }

  /** Hands the PENDING shard to a worker. */
  public Shard assign(int index, String workerId) {
    Shard shard = shards.get(index);
    if (shard.state != ShardState.PENDING) throw new IllegalStateException("shard " + index + " is " + shard.state);
    shard.state = ShardState.ASSIGNED;
    shard.workerId = workerId;
    shard.startStep = shard.checkpointStep;
    shard.progressStep = shard.checkpointStep;
    shard.spans.begin(shard.attempt, shard.checkpointStep);
    return shard;
  }

  /**
   * Starts a speculative copy of the RUNNING shard's attempt on another worker, from the shard's last checkpoint.
   * Returns the copy's attempt number.
   */
  public int speculate(int index, String workerId) {
    Shard shard = shards.get(index);
    if (shard.state != ShardState.RUNNING || shard.backup != null || workerId.equals(shard.workerId)) {
      throw new IllegalStateException("shard " + index + " cannot take a speculative copy on " + workerId);
    }
    shard.backup = new Backup(workerId, ++shard.attemptsIssued, shard.checkpointStep);
    shard.spans.begin(shard.backup.attempt, shard.checkpointStep);
    return shard.backup.attempt;
  }

  /** The worker and attempt of the other copy of a shard that has two, or null: the one to stop when one wins. */
  public String[] otherCopy(int index, int attempt) {
    Shard shard = shardAt(index);
    if (shard == null || shard.backup == null) return null;
    if (attempt == shard.backup.attempt) return new String[] {shard.workerId, Integer.toString(shard.attempt)};
    return new String[] {shard.backup.workerId, Integer.toString(shard.backup.attempt)};
  }

  private static boolean isBackup(Shard shard, int attempt, String workerId) {
    return shard.backup != null && shard.backup.attempt == attempt && shard.backup.workerId.equals(workerId);
  }

  /** The speculative copy takes the main attempt's place (the main one failed, stopped or was lost). */
  private static void promoteBackup(Shard shard) {
    Backup backup = shard.backup;
    shard.backup = null;
    shard.workerId = backup.workerId;
    shard.attempt = backup.attempt;
    shard.state = ShardState.RUNNING;
    shard.startStep = backup.checkpointStep;
    shard.progressStep = backup.progressStep;
    if (backup.lastCheckpoint != null && backup.checkpointStep >= shard.checkpointStep) {
      shard.lastCheckpoint = backup.lastCheckpoint;
      shard.checkpointStep = backup.checkpointStep;
    }
  }

  private Shard shardAt(int index) {
    return index < 0 || index >= shards.size() ? null : shards.get(index);
  }

  /**
   * A worker is still training this attempt for a previous coordinator: the shard is RUNNING on it if the table
   * (recovered from the store) agrees the attempt is the current one. Returns false if it is not.
   */
  public boolean adopt(int index, int attempt, String workerId) {
    Shard shard = current(index, attempt, workerId);
    if (shard == null || !shard.active()) return false;
    shard.state = ShardState.RUNNING;
    shard.unclaimed = false;
    return true;
  }

  /**
   * Puts one shard back as the store last recorded it (a coordinator recovering a run). A shard recorded as
   * ASSIGNED or RUNNING stays so, unclaimed, until its worker reclaims it ({@link #adopt}) or the recovery grace
   * ends ({@link #requeueUnclaimed}).
   */
  public void restore(int index, ShardState state, int attempt, int failures, String workerId, String lastCheckpoint,
      long checkpointStep, String lastFailure) {
    Shard shard = shards.get(index);
    shard.state = state;
    shard.attempt = attempt;
    shard.attemptsIssued = attempt;
    shard.failures = failures;
    shard.workerId = workerId;
    shard.lastCheckpoint = lastCheckpoint;
    shard.checkpointStep = checkpointStep;
    shard.startStep = checkpointStep;
    shard.progressStep = state == ShardState.DONE ? shard.totalSteps : checkpointStep;
    shard.endStep = state == ShardState.DONE ? shard.totalSteps : 0;
    shard.lastFailure = lastFailure == null ? "" : lastFailure;
    shard.folded = index >= worldSize && state == ShardState.DONE;
    shard.unclaimed = shard.active();
    if (shard.active() && workerId == null) requeue(shard);
  }

  /** Shards recovered as running that no worker has reclaimed: back to PENDING (attempt+1); returns their indices. */
  public List<Integer> requeueUnclaimed() {
    List<Integer> requeued = new ArrayList<>();
    for (Shard shard : shards) {
      if (shard.active() && shard.unclaimed) {
        requeue(shard);
        requeued.add(shard.index);
      }
    }
    return requeued;
  }

  /**
   * The attempt's trainer started at {@code startStep}, from checkpoint {@code resumeFrom} (null: the shard's start).
   * The worker starts from the newest usable checkpoint of the shard it finds, which can be newer than the one
   * recorded here (an attempt the run gave up on trained on and checkpointed) or older (the recorded one was unusable):
   * the shard takes it as its checkpoint. Returns false for a stale report.
   */
  public boolean started(int index, int attempt, String workerId, long startStep, String resumeFrom) {
    return start(index, attempt, workerId, startStep, resumeFrom, false);
  }

  /** The attempt's trainer started from the checkpoint it was assigned. Returns false for a stale report. */
  public boolean started(int index, int attempt, String workerId) {
    return start(index, attempt, workerId, 0, null, true);
  }

  private boolean start(int index, int attempt, String workerId, long startStep, String resumeFrom, boolean asAssigned) {
    Shard copy = shardAt(index);
    if (copy != null && isBackup(copy, attempt, workerId)) return true;
    Shard shard = current(index, attempt, workerId);
    if (shard == null || shard.state != ShardState.ASSIGNED) return false;
    shard.state = ShardState.RUNNING;
    shard.unclaimed = false;
    if (!asAssigned && startStep != shard.startStep) {
      shard.spans.begin(attempt, startStep);
      shard.startStep = startStep;
      shard.progressStep = startStep;
      shard.checkpointStep = startStep;
      shard.lastCheckpoint = resumeFrom;
    }
    return true;
  }

  /** A checkpoint of the attempt was written. Returns false for a stale report. */
  public boolean checkpointed(int index, int attempt, String workerId, long step, String path) {
    Shard copy = shardAt(index);
    if (copy != null) copy.spans.reach(attempt, step);
    if (copy != null && isBackup(copy, attempt, workerId)) {
      if (step < copy.backup.checkpointStep) return false;
      copy.backup.lastCheckpoint = path;
      copy.backup.checkpointStep = step;
      copy.backup.progressStep = Math.max(copy.backup.progressStep, step);
      return true;
    }
    Shard shard = current(index, attempt, workerId);
    if (shard == null || step < shard.checkpointStep) return false;
    shard.lastCheckpoint = path;
    shard.checkpointStep = step;
    shard.progressStep = Math.max(shard.progressStep, step);
    return true;
  }

  /**
   * The attempt reached {@code step} (its lifecycle report of progress); progress only, never a state change. Returns
   * false for an attempt the table does not follow (stale, or no such shard).
   */
  public boolean progressed(int index, int attempt, long step) {
    Shard shard = shardAt(index);
    if (shard == null) return false;
    shard.spans.reach(attempt, step);
    if (shard.backup != null && shard.backup.attempt == attempt) {
      shard.backup.progressStep = Math.max(shard.backup.progressStep, step);
      return true;
    } else if (shard.attempt == attempt && shard.active()) {
      shard.progressStep = Math.max(shard.progressStep, step);
      return true;
    }
    return false;
  }

  /**
   * The attempt trained the shard to its end, {@code stepsTrained} steps of it. Returns false for a stale report
   * (whose steps still count).
   */
  public boolean completed(int index, int attempt, String workerId, long endStep, long stepsTrained) {
    trained(index, attempt, endStep, stepsTrained);
    Shard copy = shardAt(index);
    if (copy != null && isBackup(copy, attempt, workerId) && copy.active()) {
      // The speculative copy won: it becomes the shard's attempt of record.
      promoteBackup(copy);
    }
    Shard shard = current(index, attempt, workerId);
    if (shard == null || !shard.active()) return false;
    shard.backup = null;
    shard.state = ShardState.DONE;
    shard.endStep = endStep;
    shard.progressStep = endStep;
    return true;
  }

  /**
   * The attempt's trainer failed after training {@code stepsTrained} steps from where it started: retry from the
   * last checkpoint, or give up once the shard has failed {@code maxAttempts} times.
   */
  public FailureOutcome failed(int index, int attempt, String workerId, long stepsTrained, String reason) {
    trainedBeforeFailing(index, attempt, stepsTrained);
    Shard copy = shardAt(index);
    if (copy != null && isBackup(copy, attempt, workerId)) {
      copy.backup = null;
      copy.lastFailure = reason;
      return FailureOutcome.COPY_CONTINUES;
    }
    Shard shard = current(index, attempt, workerId);
    if (shard == null || !shard.active()) return FailureOutcome.STALE;
    shard.failures++;
    shard.lastFailure = reason;
    shard.progressStep = Math.max(shard.progressStep, shard.startStep + stepsTrained);
    if (shard.failures < maxAttempts && shard.backup != null) {
      promoteBackup(shard);
      return FailureOutcome.COPY_CONTINUES;
    }
    if (shard.failures >= maxAttempts) {
      shard.state = ShardState.FAILED;
      return FailureOutcome.EXHAUSTED;
    }
    requeue(shard);
    return FailureOutcome.RETRY;
  }

  /**
   * The attempt stopped (on request, or fenced) at {@code endStep} after {@code stepsTrained} steps: the shard waits,
   * PENDING, for the next attempt. Returns false for a stale report (whose steps still count).
   */
  public boolean stopped(int index, int attempt, String workerId, long endStep, long stepsTrained) {
    trained(index, attempt, endStep, stepsTrained);
    Shard copy = shardAt(index);
    if (copy != null && isBackup(copy, attempt, workerId)) {
      copy.backup = null;
      return true;
    }
    Shard shard = current(index, attempt, workerId);
    if (shard == null || !shard.active()) return false;
    shard.progressStep = Math.max(shard.progressStep, endStep);
    if (shard.backup != null) {
      promoteBackup(shard);
      return true;
    }
    requeue(shard);
    return true;
  }

  /**
   * The attempt of a rank whose process group is restarting ended, failed or not (it was stopped, or its program died
   * of the group's loss): the shard waits, PENDING, for the group's next start, without counting a failure. Returns
   * false for a stale report (whose steps still count).
   */
  public boolean released(int index, int attempt, String workerId, long stepsTrained) {
    trainedBeforeFailing(index, attempt, stepsTrained);
    Shard shard = current(index, attempt, workerId);
    if (shard == null || !shard.active()) return false;
    shard.progressStep = Math.max(shard.progressStep, shard.startStep + stepsTrained);
    requeue(shard);
    return true;
  }

  /**
   * Every PENDING shard takes shard {@code source}'s checkpoint as its own: a process group restarts all its ranks
   * from rank 0's checkpoint (DDP keeps every rank's parameters equal, and only rank 0 saves them).
   */
  public void resumeAllFrom(int source) {
    Shard from = shards.get(source);
    for (Shard shard : shards) {
      if (shard.state != ShardState.PENDING) continue;
      shard.lastCheckpoint = from.lastCheckpoint;
      shard.checkpointStep = from.checkpointStep;
      shard.progressStep = from.checkpointStep;
    }
  }

  /**
   * A process group starts with {@code ranks} ranks, every one from shard 0's (rank 0's) last checkpoint: shards
   * {@code 0 .. ranks-1} hold the samples as {@link ShardPlan} cuts them into {@code ranks} (the slices a sampler
   * splitting by {@code RANK}/{@code WORLD_SIZE} takes) and are PENDING; the others are folded: DONE with no samples
   * and 0 of 0 steps. Nothing may be active.
   *
   * <p>When the world size changes, steps change their size (a rank's step is a batch of its slice), so the
   * checkpoint's step becomes {@code step * oldRanks / ranks} (the same samples trained by the whole group, rounded
   * down) and the attempts' step spans start anew there; what they had trained twice or past the checkpoint, and what
   * the rounding gives back, counts as redone, so steps trained = the run's steps + steps redone still holds (as far
   * as the attempts reported, as for any lost worker). Returns the step the ranks resume from.
   */
  public long regroup(int ranks) {
    if (ranks < 1 || ranks > shards.size()) {
      throw new IllegalArgumentException("a process group of " + shards.size() + " shards cannot start " + ranks + " ranks");
    }
    if (anyActive()) throw new IllegalStateException("a process group cannot regroup while ranks are active");
    Shard zero = shards.get(0);
    String from = zero.lastCheckpoint;
    long step = ranks == worldSize ? zero.checkpointStep : zero.checkpointStep * worldSize / ranks;
    if (ranks != worldSize) {
      // Trained twice already, and trained past the checkpoint (the group trains those samples again), as far as the
      // attempts reported; and the checkpoint's samples the rounding down gives back to train again.
      long redone = zero.checkpointStep * worldSize - step * ranks;
      for (Shard shard : shards) {
        redone += shard.spans.redone() + Math.max(0, shard.spans.furthest() - zero.checkpointStep);
      }
      stepsRedoneBefore += redone;
    }
    List<ShardPlan.Slice> slices = ShardPlan.plan(samples, ranks);
    for (Shard shard : shards) {
      if (shard.index < ranks) {
        boolean recut = ranks != worldSize;
        if (recut) {
          ShardPlan.Slice slice = slices.get(shard.index);
          shard.firstSample = slice.firstSample();
          shard.sampleCount = slice.sampleCount();
          shard.totalSteps = ShardPlan.stepsFor(slice.sampleCount(), batchSize, epochs);
          shard.spans.clear();
          if (step > 0) shard.spans.end(0, step, step);
        }
        if (shard.state == ShardState.DONE) requeue(shard); // folded before (or the store had it so)
        shard.folded = false;
        shard.endStep = 0;
        shard.lastCheckpoint = from;
        shard.checkpointStep = step;
        shard.progressStep = step;
      } else {
        shard.folded = true;
        shard.state = ShardState.DONE;
        shard.workerId = null;
        shard.firstSample = samples;
        shard.sampleCount = 0;
        shard.totalSteps = 0;
        shard.spans.clear();
        shard.lastCheckpoint = null;
        shard.checkpointStep = 0;
        shard.progressStep = 0;
        shard.endStep = 0;
      }
    }
    worldSize = ranks;
    return step;
  }

  /** True when a shard that holds samples completed (not one folded by a smaller process group). */
  public boolean anyCompleted() {
    for (Shard shard : shards) if (shard.state == ShardState.DONE && !shard.folded) return true;
    return false;
  }

  /** Every active shard of a lost worker goes back to PENDING; returns their indices. */
  public List<Integer> orphan(String workerId) {
    List<Integer> orphaned = new ArrayList<>();
    for (Shard shard : shards) {
      if (shard.backup != null && workerId.equals(shard.backup.workerId)) shard.backup = null;
      if (shard.active() && workerId.equals(shard.workerId)) {
        if (shard.backup != null) {
          promoteBackup(shard);
          continue;
        }
        requeue(shard);
        orphaned.add(shard.index);
      }
    }
    return orphaned;
  }

  private static void requeue(Shard shard) {
    shard.state = ShardState.PENDING;
    shard.attempt = ++shard.attemptsIssued;
    shard.backup = null;
    shard.workerId = null;
    shard.unclaimed = false;
    shard.progressStep = shard.checkpointStep;
  }

  /** True when this is the shard's current primary attempt (not a speculative copy), still ASSIGNED or RUNNING. */
  public boolean isActiveAttempt(int index, int attempt, String workerId) {
    Shard shard = current(index, attempt, workerId);
    return shard != null && shard.active();
  }

  private Shard current(int index, int attempt, String workerId) {
    if (index < 0 || index >= shards.size()) return null;
    Shard shard = shards.get(index);
    if (shard.attempt != attempt || !workerId.equals(shard.workerId)) return null;
    return shard;
  }

  public boolean allDone() {
    for (Shard shard : shards) if (shard.state != ShardState.DONE) return false;
    return true;
  }

  public boolean anyActive() {
    for (Shard shard : shards) if (shard.active()) return true;
    return false;
  }

  /** Shards currently ASSIGNED or RUNNING. */
  public List<Shard> active() {
    List<Shard> active = new ArrayList<>();
    for (Shard shard : shards) if (shard.active()) active.add(shard);
    return active;
  }

  /** Shard steps reached, all shards together (progress, redone steps not counted twice). */
  public long stepsReached() {
    long total = 0;
    for (Shard shard : shards) total += shard.progressStep();
    return total;
  }

  /** Every shard as clients see it, in shard order. */
  public List<RunStatus.ShardStatus> statuses() {
    return statuses(index -> false);
  }

  /** Every shard as clients see it, with the shards whose current attempt is a straggler marked. */
  public List<RunStatus.ShardStatus> statuses(java.util.function.IntPredicate straggler) {
    List<RunStatus.ShardStatus> statuses = new ArrayList<>(shards.size());
    for (Shard shard : shards) {
      statuses.add(new RunStatus.ShardStatus(shard.index, shard.state(), shard.attempt(), shard.failures(),
          shard.workerId(), shard.progressStep(), shard.totalSteps, shard.checkpointStep(), shard.lastFailure(),
          shard.active() && straggler.test(shard.index), shard.backupWorkerId()));
    }
    return statuses;
  }

  /** Steps the run takes when every shard completes. */
  public long totalSteps() {
    long total = 0;
    for (Shard shard : shards) total += shard.totalSteps;
    return total;
  }

  /**
   * An attempt's final report, followed or not (a stale attempt's steps were trained all the same): it ended at
   * {@code endStep} after training {@code stepsTrained} steps.
   */
  public void trained(int index, int attempt, long endStep, long stepsTrained) {
    Shard shard = shardAt(index);
    if (shard != null) shard.spans.end(attempt, endStep, stepsTrained);
  }

  /** An attempt's failure report, followed or not: it trained {@code stepsTrained} steps from where it started. */
  public void trainedBeforeFailing(int index, int attempt, long stepsTrained) {
    Shard shard = shardAt(index);
    if (shard != null) shard.spans.endAfter(attempt, stepsTrained);
  }

  /**
   * The shard's attempts before this table (a resumed run's) trained it to {@code step}: a new attempt that starts
   * before it trains those steps again, and they count as redone.
   */
  public void trainedBefore(int index, long step) {
    if (step > 0) shards.get(index).spans.end(0, step, step);
  }

  /** Per shard, the furthest step any of its attempts is known to have trained to. */
  public java.util.Map<Integer, Long> progressSteps() {
    java.util.Map<Integer, Long> steps = new java.util.TreeMap<>();
    for (Shard shard : shards) steps.put(shard.index, Math.max(shard.progressStep(), shard.spans.furthest()));
    return steps;
  }

  /** Carries over the steps redone that an earlier coordinator incarnation counted. */
  public void addStepsRedone(long steps) {
    stepsRedoneBefore += steps;
  }

  /**
   * Steps trained more than once so far: for every shard, the steps its attempts trained less the distinct steps
   * they covered (an attempt that ended past its last checkpoint, and the next that trained those steps again; a
   * speculative copy's steps the main attempt also trained). Exact when every attempt's progress or final report
   * arrived; a lost worker's attempt counts as far as it last reported. With every attempt reported, steps trained
   * = the run's steps + steps redone.
   */
  public long stepsRedone() {
    long redone = stepsRedoneBefore;
    for (Shard shard : shards) redone += shard.spans.redone();
    return redone;
  }
}
