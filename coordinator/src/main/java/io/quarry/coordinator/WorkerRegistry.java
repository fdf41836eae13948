package io.quarry.coordinator;

import io.quarry.protocol.CoordinatorCommand.WorkerInfo;
import io.quarry.protocol.WorkerAllowance;
import io.quarry.protocol.WorkerCommand;
import io.quarry.protocol.WorkerState;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The workers the coordinator knows, as plain logic: {@code UP -> IDLE <-> BUSY -> LOST}, and the offers of idle
 * workers to runs (work pulling: a worker that asks for work is offered to one run at a time, and each offer has an
 * id, so a late answer to an older offer changes nothing). Actor refs are only data here; the coordinator sends.
 */
final class WorkerRegistry {
  /** A worker as the coordinator sees it. */
  static final class Worker {
    final ActorRef<WorkerCommand> ref;
    private String id;
    private String device;
    private WorkerState state = WorkerState.UP;
    private String offeredTo;
    private long offerId;
    private String lentTo;
    private WorkerAllowance allowance = WorkerAllowance.NOTHING;

    private Worker(ActorRef<WorkerCommand> ref) {
      this.ref = ref;
    }

    /** Null until the worker introduces itself (asks for work). */
    String id() {
      return id;
    }

    WorkerState state() {
      return state;
    }

    /** Its id, or its actor path before it has introduced itself. */
    String name() {
      return id != null ? id : ref.path().toString();
    }
  }

  /** An idle worker offered to run {@code runId}, as offer {@code offerId}. */
  record Offer(Worker worker, String runId, long offerId) {}

  private final Map<ActorRef<WorkerCommand>, Worker> workers = new LinkedHashMap<>();
  private long offers;

  /** The worker at {@code ref}, or null if it is not known. */
  Worker get(ActorRef<WorkerCommand> ref) {
    return workers.get(ref);
  }

  /** A worker seen for the first time (the caller watches it and introduces itself). */
  Worker discovered(ActorRef<WorkerCommand> ref) {
    Worker worker = new Worker(ref);
    workers.put(ref, worker);
    return worker;
  }

  /** Known workers taken for lost that the receptionist lists again: they are UP again. */
  List<Worker> returned(Set<ActorRef<WorkerCommand>> listed) {
    List<Worker> back = new ArrayList<>();
    for (Worker worker : workers.values()) {
      if (worker.state == WorkerState.LOST && listed.contains(worker.ref)) {
        worker.state = WorkerState.UP;
        back.add(worker);
      }
    }
    return back;
  }

  /** Workers not lost that the receptionist no longer lists. */
  List<Worker> unlisted(Set<ActorRef<WorkerCommand>> listed) {
    List<Worker> gone = new ArrayList<>();
    for (Worker worker : workers.values()) {
      if (worker.state != WorkerState.LOST && !listed.contains(worker.ref)) gone.add(worker);
    }
    return gone;
  }

  /** The worker is lost; it is offered and lent to nothing any more. */
  void lost(Worker worker) {
    worker.state = WorkerState.LOST;
    worker.offeredTo = null;
    worker.lentTo = null;
  }

  /** The worker introduced itself as {@code id} on {@code device} and asks for work. False if it is lost. */
  boolean idle(Worker worker, String id, String device, WorkerAllowance allowance) {
    if (worker.state == WorkerState.LOST) return false;
    worker.id = id;
    worker.device = device;
    worker.allowance = allowance;
    worker.state = WorkerState.IDLE;
    worker.lentTo = null;
    worker.offeredTo = null;
    return true;
  }

  /**
   * Run {@code runId} took these workers but gave them no shard (it ended while its process group gathered): each
   * still lent to it is idle again. Returns true if any was.
   */
  boolean unused(String runId, List<String> workerIds) {
    boolean freed = false;
    for (String workerId : workerIds) {
      Worker worker = byId(workerId);
      if (worker == null || worker.state != WorkerState.BUSY || !runId.equals(worker.lentTo)) continue;
      worker.state = WorkerState.IDLE;
      worker.lentTo = null;
      freed = true;
    }
    return freed;
  }

  /** The worker introduced itself as {@code id} on {@code device}, busy with a shard of {@code runId}. */
  boolean busy(Worker worker, String id, String device, String runId, WorkerAllowance allowance) {
    if (worker.state == WorkerState.LOST) return false;
    worker.id = id;
    worker.device = device;
    worker.allowance = allowance;
    worker.state = runId == null ? WorkerState.IDLE : WorkerState.BUSY;
    worker.lentTo = runId;
    return true;
  }

  /**
   * Offers the idle workers that have no offer out to the runs that want workers, in queue order: each run is offered
   * every such worker that serves it (a worker started for one run serves only that one). A run that has not started
   * takes one of the {@code room} left under max-concurrent-runs (a run with offers out counts as started), and a gang
   * ({@code min-workers}) that has not started is offered nothing until that many workers serving it are idle at
   * once: it waits holding no worker, and the runs behind it may go first. Returns the offers to send.
   */
  List<Offer> offerIdle(List<RunQueue.Candidate> candidates, int room) {
    Set<String> withOffersOut = new HashSet<>();
    for (Worker worker : workers.values()) if (worker.offeredTo != null) withOffersOut.add(worker.offeredTo);
    for (RunQueue.Candidate run : candidates) {
      if (!run.started() && withOffersOut.contains(run.runId())) room--;
    }
    List<Offer> made = new ArrayList<>();
    for (RunQueue.Candidate run : candidates) {
      boolean starting = !run.started() && !withOffersOut.contains(run.runId());
      if (starting && room <= 0) continue;
      List<Worker> free = new ArrayList<>();
      for (Worker worker : workers.values()) {
        if (worker.state == WorkerState.IDLE && worker.offeredTo == null && worker.allowance.serves(run.runId())) {
          free.add(worker);
        }
      }
      if (free.isEmpty() || (starting && free.size() < run.minWorkers())) continue;
      for (Worker worker : free) {
        worker.offeredTo = run.runId();
        worker.offerId = ++offers;
        made.add(new Offer(worker, run.runId(), worker.offerId));
      }
      if (starting) room--;
    }
    return made;
  }

  /**
   * The run answered offer {@code offerId} of worker {@code workerId}. An answer to an older offer is stale: a worker
   * that trains a shard in no time can ask for work (and be offered to the same run again) before the run's
   * acceptance of the first offer arrives, and must not be marked busy by it. Returns true if it was the current one.
   */
  boolean answered(String runId, String workerId, boolean accepted, long offerId) {
    Worker worker = byId(workerId);
    if (worker == null || !runId.equals(worker.offeredTo) || offerId != worker.offerId) return false;
    worker.offeredTo = null;
    if (accepted) {
      worker.state = WorkerState.BUSY;
      worker.lentTo = runId;
    }
    return true;
  }

  /** Offers to a run that has ended are never answered: those workers are free again. */
  void withdrawOffers(String runId) {
    for (Worker worker : workers.values()) if (runId.equals(worker.offeredTo)) worker.offeredTo = null;
  }

  /** The worker introduced as {@code workerId} and not lost, or null. */
  ActorRef<WorkerCommand> ref(String workerId) {
    Worker worker = byId(workerId);
    return worker == null ? null : worker.ref;
  }

  /** Workers not lost. */
  long live() {
    return workers.values().stream().filter(worker -> worker.state != WorkerState.LOST).count();
  }

  /**
   * Whether {@code program}, as a run config names it, may be allowed by some worker not lost: one that introduced
   * itself allows it ({@link WorkerAllowance#mayAllow}), or one has not yet said what it allows (it joined the cluster
   * but has not asked for work), or no worker has joined yet. False only when every worker has said and none allows
   * it. Each worker checks again, exactly, before it trains.
   */
  boolean someWorkerMayAllow(String program) {
    for (Worker worker : workers.values()) {
      if (worker.state == WorkerState.LOST) continue;
      if (worker.id == null || worker.allowance.mayAllow(program)) return true;
    }
    return live() == 0;
  }

  /** A worker to size a run's data: an idle one if any, else any introduced one not lost. */
  Optional<Worker> sizer() {
    Worker any = null;
    for (Worker worker : workers.values()) {
      if (worker.state == WorkerState.LOST || worker.id == null) continue;
      if (worker.state == WorkerState.IDLE) return Optional.of(worker);
      if (any == null) any = worker;
    }
    return Optional.ofNullable(any);
  }

  /** Every worker as clients see it. */
  List<WorkerInfo> infos() {
    List<WorkerInfo> infos = new ArrayList<>();
    for (Worker worker : workers.values()) {
      infos.add(new WorkerInfo(worker.id, worker.device, worker.state, worker.lentTo));
    }
    return infos;
  }

  private Worker byId(String workerId) {
    for (Worker worker : workers.values()) {
      if (workerId.equals(worker.id) && worker.state != WorkerState.LOST) return worker;
    }
    return null;
  }
}
