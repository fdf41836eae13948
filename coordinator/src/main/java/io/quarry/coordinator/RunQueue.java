package io.quarry.coordinator;

import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The runs the coordinator holds, in submission order, as plain logic: each run's actor, its latest status (what
 * clients are answered from), its watchers (told of its end should its actor crash) and, once it has ended, its
 * summary; and the queue order in which idle workers go to
 * runs — the highest {@code priority} first, then the earliest submitted, among the runs that want workers, a run
 * that has not started only while fewer than {@code max-concurrent-runs} are going. A run with {@code min-workers}
 * (a gang) starts only with that many workers at once; {@link WorkerRegistry#offerIdle} decides that.
 */
final class RunQueue {
  /** A run as the coordinator sees it. */
  static final class Run {
    final ActorRef<RunCommand> actor;
    private final int priority;
    private final int minWorkers;
    private final long submittedMs;
    private final long order;
    private boolean wantsWorkers;
    /** A shard of it has been handed to a worker: it counts against max-concurrent-runs until it ends. */
    private boolean started;
    private RunSummary summary;
    private RunStatus status;
    /** Who watches it, until it ends: its actor tells them, but if the actor crashes the coordinator does. */
    private final Set<ActorRef<RunUpdate>> watchers = new LinkedHashSet<>();

    private Run(ActorRef<RunCommand> actor, int priority, int minWorkers, long submittedMs, long order,
        boolean started, RunStatus status) {
      this.actor = actor;
      this.priority = priority;
      this.minWorkers = minWorkers;
      this.submittedMs = submittedMs;
      this.order = order;
      this.started = started;
      this.status = status;
    }

    /** Until it has ended. */
    boolean active() {
      return summary == null;
    }

    /** Null while it is active. */
    RunSummary summary() {
      return summary;
    }

    /** Its latest status. */
    RunStatus status() {
      return status;
    }
  }

  private static final Comparator<Run> QUEUE_ORDER = Comparator.<Run>comparingInt(run -> -run.priority)
      .thenComparingLong(run -> run.submittedMs)
      .thenComparingLong(run -> run.order);

  private final int maxConcurrentRuns;
  private final Map<String, Run> runs = new LinkedHashMap<>();

  /** {@code maxConcurrentRuns}: runs that train at once at most; 0 for no limit. */
  RunQueue(int maxConcurrentRuns) {
    this.maxConcurrentRuns = maxConcurrentRuns;
  }

  /**
   * A run that wants idle workers now, as {@link WorkerRegistry#offerIdle} sees it.
   *
   * @param started whether it has taken a worker before (it then counts against max-concurrent-runs already)
   * @param minWorkers the gang it starts with when it has not started; 0 for any number
   */
  record Candidate(String runId, boolean started, int minWorkers) {}

  /** Runs that have not started yet and are not over: the queue's waiting runs. */
  long waiting() {
    return runs.values().stream().filter(run -> run.active() && !run.started).count();
  }

  /**
   * Adds a run, known to clients from now on by {@code status}.
   *
   * @param minWorkers the run's {@code min-workers}: it starts only with that many workers at once (0: any)
   * @param started whether it had started before (a recovered run)
   */
  void add(String runId, ActorRef<RunCommand> actor, int priority, int minWorkers, long submittedMs, boolean started,
      RunStatus status) {
    runs.put(runId, new Run(actor, priority, minWorkers, submittedMs, runs.size(), started, status));
  }

  boolean contains(String runId) {
    return runs.containsKey(runId);
  }

  /** The run, or null. */
  Run get(String runId) {
    return runs.get(runId);
  }

  /** The active run, or null if there is none by that id or it has ended. */
  Run active(String runId) {
    Run run = runs.get(runId);
    return run != null && run.active() ? run : null;
  }

  /** The id of the run whose actor is {@code actor}, or null. */
  String runIdOf(ActorRef<?> actor) {
    for (Map.Entry<String, Run> run : runs.entrySet()) if (run.getValue().actor.equals(actor)) return run.getKey();
    return null;
  }

  /** {@code watcher} follows the active run {@code runId} (its actor is told too). */
  void watched(String runId, ActorRef<RunUpdate> watcher) {
    Run run = active(runId);
    if (run != null) run.watchers.add(watcher);
  }

  /** The actors of the runs that have not ended. */
  List<ActorRef<RunCommand>> activeActors() {
    List<ActorRef<RunCommand>> actors = new ArrayList<>();
    for (Run run : runs.values()) if (run.active()) actors.add(run.actor);
    return actors;
  }

  /** The run has shards waiting for workers. */
  void wantsWorkers(String runId) {
    Run run = active(runId);
    if (run != null) run.wantsWorkers = true;
  }

  /** The run took an offered worker ({@code accepted}) or turned one down, so it wants none for now. */
  void answered(String runId, boolean accepted) {
    Run run = runs.get(runId);
    if (run == null) return;
    if (accepted) run.started = true;
    else run.wantsWorkers = false;
  }

  /** The runs that want idle workers, in queue order (the highest priority first, then the earliest submitted). */
  List<Candidate> candidates() {
    return runs.entrySet().stream()
        .filter(run -> run.getValue().active() && run.getValue().wantsWorkers)
        .sorted(Map.Entry.comparingByValue(QUEUE_ORDER))
        .map(run -> new Candidate(run.getKey(), run.getValue().started, run.getValue().minWorkers))
        .toList();
  }

  /** How many more runs may start now under max-concurrent-runs ({@link Integer#MAX_VALUE}: no limit). */
  int room() {
    if (maxConcurrentRuns <= 0) return Integer.MAX_VALUE;
    long going = runs.values().stream().filter(run -> run.active() && run.started).count();
    return (int) Math.max(0, maxConcurrentRuns - going);
  }

  /** The active run's latest status. */
  void statusChanged(RunStatus status) {
    Run run = active(status.runId());
    if (run != null) run.status = status;
  }

  /** The run ended with {@code summary}; {@code status} is its last. */
  void ended(String runId, RunSummary summary, RunStatus status) {
    Run run = runs.get(runId);
    if (run == null) return;
    run.summary = summary;
    if (status != null) run.status = status;
    run.wantsWorkers = false;
    run.watchers.clear();
  }

  /**
   * The active run's actor stopped before the run ended (it crashed): the run ends FAILED for {@code reason} at
   * {@code nowMs}, with what its latest status knew. Returns the watchers to tell of the end, or none if the run had
   * ended already.
   */
  List<ActorRef<RunUpdate>> crashed(String runId, String reason, long nowMs) {
    Run run = active(runId);
    if (run == null) return List.of();
    RunStatus last = run.status;
    long wallMs = nowMs - last.submittedUnixMs();
    List<ActorRef<RunUpdate>> watchers = List.copyOf(run.watchers);
    // The samples trained and steps redone died with the actor: the summary has only what the status had.
    ended(runId, new RunSummary(runId, RunState.FAILED, reason, last.steps(), 0, 0, wallMs, last.droppedEvents(),
        last.merges(), last.hardest(), last.runDir(), Double.NaN, Double.NaN, last.counters(),
            last.hardExamplesWarning()),
        new RunStatus(runId, last.name(), RunState.FAILED, last.submittedUnixMs(), last.startedUnixMs(), nowMs,
            last.steps(), last.totalSteps(), last.lastLoss(), last.samplesPerSec(), last.droppedEvents(), last.merges(),
            reason, last.shards(), last.workers(), last.runDir(), last.hardest(), last.counters(),
            last.hardExamplesWarning()));
    return watchers;
  }

  /** The run's latest status, or null if there is no such run. */
  RunStatus status(String runId) {
    Run run = runs.get(runId);
    return run == null ? null : run.status;
  }

  /** Every run's latest status, in submission order. */
  List<RunStatus> statuses() {
    List<RunStatus> statuses = new ArrayList<>();
    for (Run run : runs.values()) if (run.status != null) statuses.add(run.status);
    return statuses;
  }
}
