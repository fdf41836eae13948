package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.coordinator.CoordinatorProtocol.OfferAnswered;
import io.quarry.coordinator.CoordinatorProtocol.RunEnded;
import io.quarry.coordinator.CoordinatorProtocol.WantsWorkers;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.ShardPlan;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.ShardRecord;
import io.quarry.protocol.CoordinatorCommand.RequestWork;
import io.quarry.protocol.CoordinatorCommand.StopReply;
import io.quarry.protocol.CoordinatorCommand.StopRun;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.CoordinatorCommand.SubmitRun;
import io.quarry.protocol.CoordinatorCommand.WatchRun;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.ServiceKeys;
import io.quarry.protocol.WorkerCommand;
import io.quarry.protocol.WorkerState;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.SingletonActor;

/**
 * The coordinator (a cluster singleton in a cluster, a plain actor in local mode): it finds workers through the
 * Receptionist and watches them, accepts runs and starts a {@link RunActor} child for each, and hands idle
 * workers (who pull work) to the runs that have PENDING shards, oldest run first. Every message it sends to a
 * worker carries its incarnation.
 */
public final class Coordinator extends AbstractBehavior<CoordinatorCommand> {
  private static final DateTimeFormatter RUN_ID_TIME =
      DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);

  private record WorkersListed(Set<ActorRef<WorkerCommand>> workers) implements CoordinatorCommand.Local {}

  private record WorkerTerminated(ActorRef<WorkerCommand> worker) implements CoordinatorCommand.Local {}

  private record RunTerminated(String runId) implements CoordinatorCommand.Local {}

  /** A worker as the coordinator sees it. */
  private static final class WorkerEntry {
    final ActorRef<WorkerCommand> ref;
    String id;
    String device;
    WorkerState state = WorkerState.UP;
    String offeredTo;
    /** The id of the offer in flight; an answer to an older offer is stale. */
    long offerId;
    String lentTo;

    WorkerEntry(ActorRef<WorkerCommand> ref) {
      this.ref = ref;
    }

    String name() {
      return id != null ? id : ref.path().toString();
    }
  }

  /** A run as the coordinator sees it. */
  private static final class RunEntry {
    final ActorRef<RunCommand> actor;
    final int priority;
    final long submittedMs;
    final long order;
    boolean wantsWorkers;
    /** A shard of it has been handed to a worker: it counts against max-concurrent-runs until it ends. */
    boolean started;
    RunSummary summary;
    RunStatus status;

    RunEntry(ActorRef<RunCommand> actor, int priority, long submittedMs, long order, boolean started) {
      this.actor = actor;
      this.priority = priority;
      this.submittedMs = submittedMs;
      this.order = order;
      this.started = started;
    }

    boolean active() {
      return summary == null;
    }
  }

  /** The run queue's order: higher priority first, then earlier submission. */
  private static final java.util.Comparator<RunEntry> QUEUE_ORDER =
      java.util.Comparator.<RunEntry>comparingInt(run -> -run.priority)
          .thenComparingLong(run -> run.submittedMs)
          .thenComparingLong(run -> run.order);

  private final long incarnation;
  private final Path runsDir;
  private final Clock clock;
  private final RunStore store;
  private final int maxConcurrentRuns;
  private final CoordinatorSettings settings;
  private final Map<ActorRef<WorkerCommand>, WorkerEntry> workers = new LinkedHashMap<>();
  private final Map<String, RunEntry> runs = new LinkedHashMap<>();
  private long offers;

  private Coordinator(ActorContext<CoordinatorCommand> context, RunStore store, Path runsDir, Clock clock) {
    super(context);
    this.store = store;
    this.incarnation = store.nextIncarnation();
    this.settings = CoordinatorSettings.from(context.getSystem().settings().config());
    this.maxConcurrentRuns = settings.maxConcurrentRuns();
    this.runsDir = runsDir;
    this.clock = clock;
    ActorRef<Receptionist.Listing> listings = context.messageAdapter(Receptionist.Listing.class,
        listing -> new WorkersListed(listing.getServiceInstances(ServiceKeys.WORKER)));
    context.getSystem().receptionist().tell(Receptionist.subscribe(ServiceKeys.WORKER, listings));
    context.getLog().info("coordinator incarnation {} started; runs in {}", incarnation, runsDir.toAbsolutePath());
    for (RunRecord unfinished : store.unfinishedRuns()) recover(unfinished);
  }

  /**
   * A coordinator writing run directories under {@code runsDir} and recording runs in {@code store}. It takes its
   * incarnation (fencing token) from the store, so it is larger than that of every coordinator before it, and
   * recovers every run the store holds as unfinished.
   */
  public static Behavior<CoordinatorCommand> create(RunStore store, Path runsDir, Clock clock) {
    return Behaviors.setup(context -> new Coordinator(context, store, runsDir, clock));
  }

  /** The coordinator talks to the run store (JDBC), so it runs beside its run actors on the I/O dispatcher. */
  public static final org.apache.pekko.actor.typed.Props DISPATCHER =
      DispatcherSelector.fromConfig("quarry.coordinator.io-dispatcher");

  /** The singleton's name in the cluster. */
  public static final String SINGLETON_NAME = "quarry-coordinator";

  /** The cluster role on which the coordinator singleton may run. */
  public static final String ROLE = "coordinator";

  /**
   * Starts (or joins) the coordinator cluster singleton and returns a proxy to it. It runs on the oldest node with
   * the {@code coordinator} role; every node with that role must reach the same store.
   */
  public static ActorRef<CoordinatorCommand> singleton(ActorSystem<?> system, RunStore store, Path runsDir) {
    Behavior<CoordinatorCommand> behavior = create(store, runsDir, Clock.systemUTC());
    return ClusterSingleton.get(system).init(SingletonActor.of(behavior, SINGLETON_NAME)
        .withSettings(ClusterSingletonSettings.create(system).withRole(ROLE))
        .withProps(DISPATCHER));
  }

  @Override
  public Receive<CoordinatorCommand> createReceive() {
    return newReceiveBuilder()
        .onMessage(WorkersListed.class, this::onWorkersListed)
        .onMessage(WorkerTerminated.class, this::onWorkerTerminated)
        .onMessage(RequestWork.class, this::onRequestWork)
        .onMessage(CoordinatorCommand.ShardInProgress.class, this::onShardInProgress)
        .onMessage(CoordinatorCommand.Redeliver.class, this::onRedeliver)
        .onMessage(SubmitRun.class, this::onSubmitRun)
        .onMessage(StopRun.class, this::onStopRun)
        .onMessage(WatchRun.class, this::onWatchRun)
        .onMessage(CoordinatorCommand.GetWorkers.class, this::onGetWorkers)
        .onMessage(WantsWorkers.class, this::onWantsWorkers)
        .onMessage(OfferAnswered.class, this::onOfferAnswered)
        .onMessage(RunEnded.class, this::onRunEnded)
        .onMessage(CoordinatorProtocol.StatusChanged.class, this::onStatusChanged)
        .onMessage(CoordinatorCommand.GetRun.class, this::onGetRun)
        .onMessage(CoordinatorCommand.ListRuns.class, this::onListRuns)
        .onMessage(RunTerminated.class, this::onRunTerminated)
        .build();
  }

  // --- workers ---

  private Behavior<CoordinatorCommand> onWorkersListed(WorkersListed listed) {
    for (ActorRef<WorkerCommand> ref : listed.workers()) {
      WorkerEntry known = workers.get(ref);
      if (known == null) {
        discovered(ref);
      } else if (known.state == WorkerState.LOST) {
        // Unreachable for a while (a long GC pause, a network hiccup), not dead: its old attempt has been given to
        // another worker, so the run stops it when the worker introduces it, and the worker takes new work.
        getContext().getLog().warn("worker {} is back", known.name());
        known.state = WorkerState.UP;
        ref.tell(new WorkerCommand.CoordinatorAnnounced(incarnation, getContext().getSelf()));
      }
    }
    for (WorkerEntry entry : List.copyOf(workers.values())) {
      if (entry.state != WorkerState.LOST && !listed.workers().contains(entry.ref)) {
        lost(entry, "deregistered from the receptionist");
      }
    }
    return this;
  }

  private WorkerEntry discovered(ActorRef<WorkerCommand> ref) {
    WorkerEntry entry = new WorkerEntry(ref);
    workers.put(ref, entry);
    getContext().watchWith(ref, new WorkerTerminated(ref));
    ref.tell(new WorkerCommand.CoordinatorAnnounced(incarnation, getContext().getSelf()));
    getContext().getLog().info("worker {} is up", ref.path());
    return entry;
  }

  private Behavior<CoordinatorCommand> onWorkerTerminated(WorkerTerminated terminated) {
    WorkerEntry entry = workers.get(terminated.worker());
    if (entry != null && entry.state != WorkerState.LOST) lost(entry, "terminated");
    return this;
  }

  private void lost(WorkerEntry entry, String reason) {
    entry.state = WorkerState.LOST;
    entry.offeredTo = null;
    entry.lentTo = null;
    getContext().getLog().warn("worker {} lost: {}", entry.name(), reason);
    if (entry.id == null) return;
    for (RunEntry run : runs.values()) {
      if (run.summary == null) run.actor.tell(new CoordinatorProtocol.WorkerLost(entry.id, reason));
    }
  }

  private Behavior<CoordinatorCommand> onRequestWork(RequestWork request) {
    if (request.incarnation() != incarnation) {
      // The worker answers an older coordinator: introduce ourselves; it asks again.
      request.worker().tell(new WorkerCommand.CoordinatorAnnounced(incarnation, getContext().getSelf()));
      return this;
    }
    WorkerEntry entry = workers.get(request.worker());
    if (entry == null) entry = discovered(request.worker());
    if (entry.state == WorkerState.LOST) return this;
    entry.id = request.workerId();
    entry.device = request.device();
    entry.state = WorkerState.IDLE;
    entry.lentTo = null;
    entry.offeredTo = null;
    dispatch();
    return this;
  }

  private Behavior<CoordinatorCommand> onShardInProgress(CoordinatorCommand.ShardInProgress busy) {
    if (busy.incarnation() != incarnation) {
      busy.worker().tell(new WorkerCommand.CoordinatorAnnounced(incarnation, getContext().getSelf()));
      return this;
    }
    WorkerEntry entry = workers.get(busy.worker());
    if (entry == null) entry = discovered(busy.worker());
    if (entry.state == WorkerState.LOST) return this;
    entry.id = busy.workerId();
    entry.device = busy.device();
    RunEntry run = runs.get(busy.runId());
    if (run == null || run.summary != null) {
      busy.worker().tell(new WorkerCommand.StopShard(incarnation, busy.runId(), busy.shard(),
          "run " + busy.runId() + " is not running under coordinator incarnation " + incarnation));
      entry.state = WorkerState.IDLE;
      return this;
    }
    entry.state = WorkerState.BUSY;
    entry.lentTo = busy.runId();
    run.actor.tell(new CoordinatorProtocol.AdoptAttempt(busy.workerId(), busy.worker(), busy.shard(), busy.attempt()));
    return this;
  }

  private Behavior<CoordinatorCommand> onRedeliver(CoordinatorCommand.Redeliver redeliver) {
    RunEntry run = runs.get(redeliver.report().runId());
    if (run != null && run.summary == null && redeliver.incarnation() == incarnation) run.actor.tell(redeliver.report());
    return this;
  }

  /** Offers every idle worker to the oldest run that wants workers (work pulling). */
  private void dispatch() {
    for (WorkerEntry worker : workers.values()) {
      if (worker.state != WorkerState.IDLE || worker.offeredTo != null) continue;
      String targetId = nextInQueue();
      if (targetId == null) return;
      RunEntry target = runs.get(targetId);
      worker.offeredTo = targetId;
      worker.offerId = ++offers;
      target.actor.tell(new CoordinatorProtocol.OfferWorker(worker.id, worker.ref, worker.offerId));
    }
  }

  /**
   * The run the next idle worker goes to: the first, in queue order (priority, then submission), that wants
   * workers — a run that has not started yet only while fewer than max-concurrent-runs runs are going.
   */
  private String nextInQueue() {
    long going = runs.values().stream().filter(run -> run.active() && run.started).count();
    boolean roomForAnother = maxConcurrentRuns <= 0 || going < maxConcurrentRuns;
    return runs.entrySet().stream()
        .filter(run -> run.getValue().active() && run.getValue().wantsWorkers)
        .filter(run -> run.getValue().started || roomForAnother)
        .min(Map.Entry.comparingByValue(QUEUE_ORDER))
        .map(Map.Entry::getKey)
        .orElse(null);
  }

  private Behavior<CoordinatorCommand> onWantsWorkers(WantsWorkers wants) {
    RunEntry run = runs.get(wants.runId());
    if (run != null && run.summary == null) {
      run.wantsWorkers = true;
      dispatch();
    }
    return this;
  }

  private Behavior<CoordinatorCommand> onOfferAnswered(OfferAnswered answer) {
    WorkerEntry worker = workerById(answer.workerId());
    // A worker that trains a shard in no time can ask for work (and be offered to the same run again) before the
    // run's acceptance of the first offer arrives: that answer is stale and must not mark the idle worker busy.
    if (worker != null && answer.runId().equals(worker.offeredTo) && answer.offerId() == worker.offerId) {
      worker.offeredTo = null;
      if (answer.accepted()) {
        worker.state = WorkerState.BUSY;
        worker.lentTo = answer.runId();
        RunEntry run = runs.get(answer.runId());
        if (run != null) run.started = true;
      }
    }
    if (!answer.accepted()) {
      RunEntry run = runs.get(answer.runId());
      if (run != null) run.wantsWorkers = false;
    }
    dispatch();
    return this;
  }

  private WorkerEntry workerById(String workerId) {
    for (WorkerEntry entry : workers.values()) {
      if (workerId.equals(entry.id) && entry.state != WorkerState.LOST) return entry;
    }
    return null;
  }

  private Behavior<CoordinatorCommand> onGetWorkers(CoordinatorCommand.GetWorkers get) {
    List<CoordinatorCommand.WorkerInfo> infos = new java.util.ArrayList<>();
    for (WorkerEntry entry : workers.values()) {
      infos.add(new CoordinatorCommand.WorkerInfo(entry.id, entry.device, entry.state, entry.lentTo));
    }
    get.replyTo().tell(new CoordinatorCommand.WorkersReply(infos));
    return this;
  }

  // --- runs ---

  private Behavior<CoordinatorCommand> onSubmitRun(SubmitRun submit) {
    RunConfig config;
    try {
      config = RunConfig.parse(submit.spec().configHocon());
    } catch (RunConfigException e) {
      submit.replyTo().tell(new SubmitReply.Rejected(e.getMessage()));
      return this;
    }
    String runId = submit.spec().runId() != null ? submit.spec().runId() : newRunId();
    if (runs.containsKey(runId)) {
      submit.replyTo().tell(new SubmitReply.Rejected("a run with id '" + runId + "' exists already"));
      return this;
    }
    long liveWorkers = workers.values().stream().filter(w -> w.state != WorkerState.LOST).count();
    int shardCount = config.shards > 0 ? config.shards : (int) Math.max(1, liveWorkers);
    long samples;
    try {
      samples = config.datasetSamples(); // trainer = djl with a csv file: counts its rows (once per config)
    } catch (RunConfigException e) {
      submit.replyTo().tell(new SubmitReply.Rejected(e.getMessage()));
      return this;
    }
    if (shardCount > samples) {
      submit.replyTo().tell(new SubmitReply.Rejected("config key 'shards': " + shardCount
          + " shards for a dataset of " + samples + " samples; allowed: at most one shard per sample"));
      return this;
    }
    if (store.run(runId).isPresent()) {
      submit.replyTo().tell(new SubmitReply.Rejected("a run with id '" + runId + "' exists already (in the run store)"));
      return this;
    }
    RunDirectory directory;
    try {
      directory = RunDirectory.create(runsDir, runId, config.toHocon());
    } catch (IllegalArgumentException e) {
      submit.replyTo().tell(new SubmitReply.Rejected(e.getMessage()));
      return this;
    } catch (IOException e) {
      submit.replyTo().tell(new SubmitReply.Rejected("cannot create the run directory under " + runsDir + ": " + e));
      return this;
    }
    ShardTable table = new ShardTable(ShardPlan.plan(samples, shardCount), config.batchSize, config.epochs,
        config.maxAttempts);
    RunSpec spec = new RunSpec(runId, config.toHocon());
    try {
      store.createRun(new RunRecord(runId, config.name, spec.configHocon(), RunState.PENDING, clock.millis(), null,
          null, null, null));
      store.upsertShards(RunLedger.records(runId, table));
    } catch (RuntimeException e) {
      directory.close();
      submit.replyTo().tell(new SubmitReply.Rejected("cannot record the run in the run store: " + e.getMessage()));
      return this;
    }
    startRun(new RunActor.Setup(spec, config, table, directory, incarnation, getContext().getSelf(), clock, store, null, settings));
    submit.replyTo().tell(new SubmitReply.Accepted(runId, directory.path().toString()));
    return this;
  }

  private void startRun(RunActor.Setup setup) {
    String runId = setup.spec().runId();
    // Until the run actor's first report arrives, a client asking about the run (it has its id already) must
    // find it. Taken before the run actor owns the table.
    RunState state = setup.recovered() == null ? RunState.PENDING : setup.recovered().status();
    long submittedMs = setup.recovered() == null ? clock.millis() : setup.recovered().submittedUnixMs();
    RunStatus initial = new RunStatus(runId, setup.config().name, state, submittedMs, 0, 0, 0,
        setup.shards().totalSteps(), Float.NaN, 0, 0, 0, "", setup.shards().statuses(), List.of(),
        setup.directory().path().toString(), List.of(), io.quarry.protocol.RunCounters.ZERO);
    ActorRef<RunCommand> actor = getContext().spawn(RunActor.create(setup), "run-" + runId,
        DispatcherSelector.fromConfig("quarry.coordinator.io-dispatcher"));
    getContext().watchWith(actor, new RunTerminated(runId));
    RunEntry entry = new RunEntry(actor, setup.config().priority, submittedMs, runs.size(),
        setup.recovered() != null && setup.recovered().startedUnixMs() != null);
    entry.status = initial;
    runs.put(runId, entry);
  }

  /** Restarts a run an earlier incarnation left unfinished, from the store and its run directory. */
  private void recover(RunRecord record) {
    String runId = record.runId();
    try {
      RunConfig config = RunConfig.parse(record.configHocon());
      List<ShardRecord> stored = store.shards(runId);
      if (stored.isEmpty()) throw new IllegalStateException("the store holds no shards for it");
      List<ShardPlan.Slice> slices = new java.util.ArrayList<>();
      for (ShardRecord shard : stored) slices.add(new ShardPlan.Slice(shard.shard(), shard.firstSample(), shard.sampleCount()));
      ShardTable table = new ShardTable(slices, config.batchSize, config.epochs, config.maxAttempts);
      for (ShardRecord shard : stored) {
        table.restore(shard.shard(), shard.state(), shard.attempt(), shard.failures(), shard.workerId(),
            shard.lastCheckpoint(), shard.checkpointStep(), "");
      }
      RunDirectory directory = RunDirectory.reopen(runsDir, runId);
      startRun(new RunActor.Setup(new RunSpec(runId, record.configHocon()), config, table, directory, incarnation,
          getContext().getSelf(), clock, store, record, settings));
      getContext().getLog().info("recovered run {} ({})", runId, record.status().wireName());
    } catch (IOException | RuntimeException e) {
      String reason = "cannot recover the run after a coordinator failover: " + e.getMessage();
      getContext().getLog().error("run {}: {}", runId, reason);
      try {
        store.updateRun(new RunRecord(runId, record.name(), record.configHocon(), RunState.FAILED,
            record.submittedUnixMs(), record.startedUnixMs(), clock.millis(), record.finalMetricsJson(), reason));
      } catch (RuntimeException storeFailure) {
        getContext().getLog().error("run {}: cannot record the failure either: {}", runId, storeFailure.getMessage());
      }
    }
  }

  private String newRunId() {
    String id;
    do {
      id = "run-" + RUN_ID_TIME.format(clock.instant()) + "-"
          + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000, 0x10000));
    } while (runs.containsKey(id));
    return id;
  }

  private Behavior<CoordinatorCommand> onStopRun(StopRun stop) {
    RunEntry run = runs.get(stop.runId());
    if (run == null) {
      stop.replyTo().tell(new StopReply(stop.runId(), false, "no run with id '" + stop.runId() + "'"));
    } else if (run.summary != null) {
      stop.replyTo().tell(new StopReply(stop.runId(), false,
          "run " + stop.runId() + " is already " + run.summary.status().wireName()));
    } else {
      run.actor.tell(new CoordinatorProtocol.Stop(stop.reason(), stop.replyTo()));
    }
    return this;
  }

  private Behavior<CoordinatorCommand> onWatchRun(WatchRun watch) {
    RunEntry run = runs.get(watch.runId());
    if (run == null) {
      watch.subscriber().tell(new RunUpdate.UnknownRun(watch.runId()));
    } else if (run.summary != null) {
      watch.subscriber().tell(new RunUpdate.Finished(watch.runId(), run.summary));
    } else {
      run.actor.tell(new CoordinatorProtocol.Watch(watch.subscriber()));
    }
    return this;
  }

  private Behavior<CoordinatorCommand> onRunEnded(RunEnded ended) {
    RunEntry run = runs.get(ended.runId());
    if (run != null) {
      run.summary = ended.summary();
      run.status = ended.status();
      run.wantsWorkers = false;
      run.actor.tell(CoordinatorProtocol.Retire.INSTANCE);
    }
    releaseOffers(ended.runId());
    return this;
  }

  private Behavior<CoordinatorCommand> onStatusChanged(CoordinatorProtocol.StatusChanged changed) {
    RunEntry run = runs.get(changed.status().runId());
    if (run != null && run.summary == null) run.status = changed.status();
    return this;
  }

  private Behavior<CoordinatorCommand> onGetRun(CoordinatorCommand.GetRun get) {
    RunEntry run = runs.get(get.runId());
    get.replyTo().tell(new CoordinatorCommand.RunStatusReply(get.runId(), run == null ? null : run.status));
    return this;
  }

  private Behavior<CoordinatorCommand> onListRuns(CoordinatorCommand.ListRuns list) {
    List<RunStatus> statuses = new java.util.ArrayList<>();
    for (RunEntry run : runs.values()) if (run.status != null) statuses.add(run.status);
    list.replyTo().tell(new CoordinatorCommand.RunsReply(statuses));
    return this;
  }

  private Behavior<CoordinatorCommand> onRunTerminated(RunTerminated terminated) {
    RunEntry run = runs.get(terminated.runId());
    if (run != null && run.summary == null) {
      // The run actor crashed before it could end the run: record it as failed so watchers are not left hanging.
      run.summary = new RunSummary(terminated.runId(), RunState.FAILED,
          "the run actor stopped unexpectedly (see the coordinator log)", 0, 0, 0, 0, 0, 0, List.of(),
          runsDir.resolve(terminated.runId()).toString(), Double.NaN, Double.NaN, io.quarry.protocol.RunCounters.ZERO);
      run.wantsWorkers = false;
    }
    releaseOffers(terminated.runId());
    return this;
  }

  /** Offers to a run that has ended will never be answered: the workers are idle again. */
  private void releaseOffers(String runId) {
    for (WorkerEntry worker : workers.values()) {
      if (runId.equals(worker.offeredTo)) worker.offeredTo = null;
    }
    dispatch();
  }
}
