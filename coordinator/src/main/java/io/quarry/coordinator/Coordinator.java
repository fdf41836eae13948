package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.coordinator.CoordinatorProtocol.OfferAnswered;
import io.quarry.coordinator.CoordinatorProtocol.RunAdmitted;
import io.quarry.coordinator.CoordinatorProtocol.RunEnded;
import io.quarry.coordinator.CoordinatorProtocol.RunRefused;
import io.quarry.coordinator.CoordinatorProtocol.StatusChanged;
import io.quarry.coordinator.CoordinatorProtocol.WantsWorkers;
import io.quarry.coordinator.run.LineFile;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.protocol.CoordinatorCommand.GetRun;
import io.quarry.protocol.CoordinatorCommand.GetWorkers;
import io.quarry.protocol.CoordinatorCommand.HostReported;
import io.quarry.protocol.CoordinatorCommand.ListRuns;
import io.quarry.protocol.CoordinatorCommand.Redeliver;
import io.quarry.protocol.CoordinatorCommand.RequestWork;
import io.quarry.protocol.CoordinatorCommand.ShardInProgress;
import io.quarry.protocol.CoordinatorCommand.StopReply;
import io.quarry.protocol.CoordinatorCommand.StopRun;
import io.quarry.protocol.CoordinatorCommand.SubmitReply.Why;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.CoordinatorCommand.SubmitRun;
import io.quarry.protocol.CoordinatorCommand.WatchRun;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.LocalMessage;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.ServiceKeys;
import io.quarry.protocol.ShardState;
import io.quarry.protocol.WorkerCommand;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.SingletonActor;

/**
 * The coordinator (a cluster singleton in a cluster, a plain actor in local mode). It finds workers through the
 * Receptionist and watches them ({@link WorkerRegistry}), admits submitted runs through a {@link RunAdmission} child
 * each (sizing, the run directory and the store records happen off its thread), starts a {@link RunActor} child per
 * admitted run, and offers idle workers (who pull work) to the runs that want them, in queue order ({@link RunQueue}).
 * On start it takes its incarnation from the store and recovers every unfinished run ({@link RunRecovery}). Every
 * message it sends to a worker carries its incarnation; a worker speaking to an older one is told of this one. A run
 * actor that crashes leaves no run waiting: the coordinator ends the run FAILED, in the store too, tells its watchers
 * and stops its attempts.
 */
public final class Coordinator extends AbstractBehavior<CoordinatorCommand> {
  private static final DateTimeFormatter RUN_ID_TIME =
      DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);

  private record WorkersListed(Set<ActorRef<WorkerCommand>> workers) implements CoordinatorCommand.Local {}

  private record WorkerTerminated(ActorRef<WorkerCommand> worker) implements CoordinatorCommand.Local {}

  /** A resumption is prepared (off this thread): the run starts again. */
  private record ResumePrepared(RunResumption.Prepared run, ActorRef<CoordinatorCommand.ResumeReply> replyTo)
      implements CoordinatorCommand.Local {}

  /** A resumption was refused or failed, changing nothing. */
  private record ResumeFailed(String runId, CoordinatorCommand.ResumeOutcome outcome, String message,
      ActorRef<CoordinatorCommand.ResumeReply> replyTo) implements CoordinatorCommand.Local {}

  /** The coordinator talks to the run store (JDBC), so it runs beside its run actors on the I/O dispatcher. */
  public static final Props DISPATCHER = DispatcherSelector.fromConfig(CoordinatorSettings.IO_DISPATCHER);

  /** The singleton's name in the cluster. */
  public static final String SINGLETON_NAME = "quarry-coordinator";

  /** The cluster role on which the coordinator singleton may run. */
  public static final String ROLE = "coordinator";

  private final long incarnation;
  private final Path runsDir;
  private final Clock clock;
  private final RunStore store;
  private final CoordinatorSettings settings;
  /** Guards every run actor: raised, they write nothing more. */
  private final WriteFence fence;
  private final WorkerRegistry workers = new WorkerRegistry();
  private final HostLoads hosts = new HostLoads();
  private final RunQueue runs;
  /** Ids of the runs being admitted: taken, though not yet runs. */
  private final Set<String> admitting = new HashSet<>();
  private final RunAdmission.Context admission;
  private long admissions;
  /** Run actors started for resumed runs, for their names (the ended run's actor may not have stopped yet). */
  private long resumptions;

  private Coordinator(ActorContext<CoordinatorCommand> context, RunStore store, Path runsDir, Clock clock,
      WriteFence fence, LineFile.Opener files) {
    super(context);
    this.store = store;
    this.fence = fence;
    this.incarnation = store.nextIncarnation();
    this.settings = CoordinatorSettings.from(context.getSystem().settings().config());
    this.runs = new RunQueue(settings.maxConcurrentRuns());
    this.runsDir = runsDir;
    this.clock = clock;
    this.admission = new RunAdmission.Context(incarnation, runsDir, store, clock,
        context.getSystem().dispatchers().lookup(DispatcherSelector.fromConfig(CoordinatorSettings.BLOCKING_DISPATCHER)),
        settings.sizingTimeout(), files, context.getSelf());
    ActorRef<Receptionist.Listing> listings = context.messageAdapter(Receptionist.Listing.class,
        listing -> new WorkersListed(listing.getServiceInstances(ServiceKeys.WORKER)));
    context.getSystem().receptionist().tell(Receptionist.subscribe(ServiceKeys.WORKER, listings));
    context.getLog().info("coordinator incarnation {} started; runs in {}", incarnation, runsDir.toAbsolutePath());
    // Before any message: a worker that hands over a running attempt must find its run.
    for (RunRecord unfinished : store.unfinishedRuns()) recover(unfinished);
  }

  /**
   * A coordinator writing run directories under {@code runsDir} and recording runs in {@code store}. It takes its
   * incarnation (fencing token) from the store, so it is larger than that of every coordinator before it, and
   * recovers every run the store holds as unfinished.
   */
  public static Behavior<CoordinatorCommand> create(RunStore store, Path runsDir, Clock clock) {
    return create(store, runsDir, clock, new WriteFence());
  }

  /** As {@link #create(RunStore, Path, Clock)}, with the files of new run directories opened by {@code files}. */
  static Behavior<CoordinatorCommand> create(RunStore store, Path runsDir, Clock clock, LineFile.Opener files) {
    return create(store, runsDir, clock, new WriteFence(), files);
  }

  /** {@link #create(RunStore, Path, Clock)}, the coordinator and its run actors behind {@code fence}. */
  public static Behavior<CoordinatorCommand> create(RunStore store, Path runsDir, Clock clock, WriteFence fence) {
    return create(store, runsDir, clock, fence, LineFile.DISK);
  }

  private static Behavior<CoordinatorCommand> create(RunStore store, Path runsDir, Clock clock, WriteFence fence,
      LineFile.Opener files) {
    return fence.guard(Behaviors.setup(context -> new Coordinator(context, store, runsDir, clock, fence, files)),
        CoordinatorCommand.class);
  }

  /**
   * Starts (or joins) the coordinator cluster singleton and returns a proxy to it. It runs on the oldest node with
   * the {@code coordinator} role; every node with that role must reach the same store.
   */
  public static ActorRef<CoordinatorCommand> singleton(ActorSystem<?> system, RunStore store, Path runsDir) {
    return singleton(system, store, runsDir, new WriteFence());
  }

  /**
   * {@link #singleton(ActorSystem, RunStore, Path)} behind {@code fence}: the node raises it when it leaves the
   * cluster, so that a coordinator cut off on the minority side writes nothing once the standby may take over.
   */
  public static ActorRef<CoordinatorCommand> singleton(ActorSystem<?> system, RunStore store, Path runsDir,
      WriteFence fence) {
    Behavior<CoordinatorCommand> behavior = create(store, runsDir, Clock.systemUTC(), fence);
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
        .onMessage(ShardInProgress.class, this::onShardInProgress)
        .onMessage(Redeliver.class, this::onRedeliver)
        .onMessage(GetWorkers.class, this::onGetWorkers)
        .onMessage(HostReported.class, this::onHostReported)
        .onMessage(SubmitRun.class, this::onSubmitRun)
        .onMessage(RunAdmitted.class, this::onRunAdmitted)
        .onMessage(RunRefused.class, this::onRunRefused)
        .onMessage(StopRun.class, this::onStopRun)
        .onMessage(WatchRun.class, this::onWatchRun)
        .onMessage(GetRun.class, this::onGetRun)
        .onMessage(ListRuns.class, this::onListRuns)
        .onMessage(WantsWorkers.class, this::onWantsWorkers)
        .onMessage(OfferAnswered.class, this::onOfferAnswered)
        .onMessage(StatusChanged.class, this::onStatusChanged)
        .onMessage(RunEnded.class, this::onRunEnded)
        .onMessage(CoordinatorProtocol.WorkersUnused.class, this::onWorkersUnused)
        .onSignal(ChildFailed.class, failed -> onRunActorStopped(failed.getRef(), failed.getCause()))
        .onSignal(Terminated.class, terminated -> onRunActorStopped(terminated.getRef(), null))
        .onMessage(CoordinatorCommand.ResumeRun.class, this::onResumeRun)
        .onMessage(ResumePrepared.class, this::onResumePrepared)
        .onMessage(ResumeFailed.class, this::onResumeFailed)
        .build();
  }

  // --- workers ---

  private Behavior<CoordinatorCommand> onWorkersListed(WorkersListed listed) {
    for (ActorRef<WorkerCommand> ref : listed.workers()) {
      if (workers.get(ref) == null) discovered(ref);
    }
    for (WorkerRegistry.Worker back : workers.returned(listed.workers())) {
      // Unreachable for a while (a long GC pause, a network hiccup), not dead: its old attempt has been given to
      // another worker, so the run stops it when the worker introduces it, and the worker takes new work.
      getContext().getLog().warn("worker {} is back", back.name());
      announce(back.ref);
    }
    for (WorkerRegistry.Worker gone : workers.unlisted(listed.workers())) lost(gone, "deregistered from the receptionist");
    return this;
  }

  private WorkerRegistry.Worker discovered(ActorRef<WorkerCommand> ref) {
    WorkerRegistry.Worker worker = workers.discovered(ref);
    getContext().watchWith(ref, new WorkerTerminated(ref));
    announce(ref);
    getContext().getLog().info("worker {} is up", ref.path());
    return worker;
  }

  private void announce(ActorRef<WorkerCommand> worker) {
    worker.tell(new WorkerCommand.CoordinatorAnnounced(incarnation, getContext().getSelf()));
  }

  private Behavior<CoordinatorCommand> onWorkerTerminated(WorkerTerminated terminated) {
    WorkerRegistry.Worker worker = workers.get(terminated.worker());
    if (worker != null && worker.state() != io.quarry.protocol.WorkerState.LOST) lost(worker, "terminated");
    return this;
  }

  private void lost(WorkerRegistry.Worker worker, String reason) {
    workers.lost(worker);
    getContext().getLog().warn("worker {} lost: {}", worker.name(), reason);
    if (worker.id() == null) return;
    CoordinatorProtocol.WorkerLost lost = new CoordinatorProtocol.WorkerLost(worker.id(), reason);
    runs.activeActors().forEach(run -> run.tell(lost));
  }

  /** Fencing: a worker that speaks to an older incarnation is told of this one (it then asks again). */
  private boolean stale(long theirs, ActorRef<WorkerCommand> worker) {
    if (theirs == incarnation) return false;
    announce(worker);
    return true;
  }

  private WorkerRegistry.Worker known(ActorRef<WorkerCommand> ref) {
    WorkerRegistry.Worker worker = workers.get(ref);
    return worker != null ? worker : discovered(ref);
  }

  private Behavior<CoordinatorCommand> onRequestWork(RequestWork request) {
    if (stale(request.incarnation(), request.worker())) return this;
    if (workers.idle(known(request.worker()), request.workerId(), request.device(), request.allowance())) dispatch();
    return this;
  }

  private Behavior<CoordinatorCommand> onShardInProgress(ShardInProgress busy) {
    if (stale(busy.incarnation(), busy.worker())) return this;
    WorkerRegistry.Worker worker = known(busy.worker());
    RunQueue.Run run = runs.active(busy.runId());
    if (!workers.busy(worker, busy.workerId(), busy.device(), run == null ? null : busy.runId(), busy.allowance())) {
      return this;
    }
    if (run == null) {
      busy.worker().tell(new WorkerCommand.StopShard(incarnation, busy.runId(), busy.shard(),
          "run " + busy.runId() + " is not running under coordinator incarnation " + incarnation));
    } else {
      run.actor.tell(new CoordinatorProtocol.AdoptAttempt(busy.workerId(), busy.worker(), busy.shard(), busy.attempt()));
    }
    return this;
  }

  private Behavior<CoordinatorCommand> onRedeliver(Redeliver redeliver) {
    RunQueue.Run run = runs.active(redeliver.report().runId());
    if (run != null && redeliver.incarnation() == incarnation) run.actor.tell(redeliver.report());
    return this;
  }

  private Behavior<CoordinatorCommand> onGetWorkers(GetWorkers get) {
    List<CoordinatorCommand.WorkerInfo> infos = workers.infos();
    get.replyTo().tell(new CoordinatorCommand.WorkersReply(infos, hosts.of(infos)));
    return this;
  }

  private Behavior<CoordinatorCommand> onHostReported(HostReported report) {
    if (report.incarnation() == incarnation) hosts.reported(report.workerId(), report.load());
    return this;
  }

  /** Offers the idle workers to the runs that want workers, in queue order (work pulling; gangs start whole). */
  private void dispatch() {
    for (WorkerRegistry.Offer offer : workers.offerIdle(runs.candidates(), runs.room())) {
      runs.get(offer.runId()).actor.tell(
          new CoordinatorProtocol.OfferWorker(offer.worker().id(), offer.worker().ref, offer.offerId()));
    }
  }

  private Behavior<CoordinatorCommand> onWantsWorkers(WantsWorkers wants) {
    runs.wantsWorkers(wants.runId());
    dispatch();
    return this;
  }

  private Behavior<CoordinatorCommand> onOfferAnswered(OfferAnswered answer) {
    boolean current = workers.answered(answer.runId(), answer.workerId(), answer.accepted(), answer.offerId());
    if (current || !answer.accepted()) runs.answered(answer.runId(), answer.accepted());
    dispatch();
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
    if (runs.contains(runId) || admitting.contains(runId)) {
      submit.replyTo().tell(new SubmitReply.Rejected("a run with id '" + runId + "' exists already", Why.TAKEN));
      return this;
    }
    long queued = runs.waiting() + admitting.size();
    if (settings.maxQueuedRuns() > 0 && queued >= settings.maxQueuedRuns()) {
      submit.replyTo().tell(new SubmitReply.Rejected("the run queue is full: " + queued + " runs wait to start "
          + "(quarry.coordinator.max-queued-runs = " + settings.maxQueuedRuns() + "); submit again once some have "
          + "started", Why.FULL));
      return this;
    }
    for (String program : config.trainerSpec().programs(config)) {
      if (!workers.someWorkerMayAllow(program)) {
        submit.replyTo().tell(new SubmitReply.Rejected("program '" + program + "' (process.command) is allowed on none "
            + "of the " + workers.live() + " workers; allowed: a program a worker's operator allows with quarry worker "
            + "--allow-program /absolute/path (or a directory of programs)"));
        return this;
      }
    }
    admitting.add(runId);
    int shardCount = config.shardCount(workers.live());
    RunAdmission.Request request =
        new RunAdmission.Request(new RunSpec(runId, config.toHocon()), config, shardCount, submit.replyTo());
    ActorRef<WorkerCommand> sizer = workers.sizer().map(worker -> worker.ref).orElse(null);
    getContext().spawn(RunAdmission.create(request, sizer, admission), "admission-" + (++admissions));
    return this;
  }

  private Behavior<CoordinatorCommand> onRunAdmitted(RunAdmitted admitted) {
    String runId = admitted.spec().runId();
    admitting.remove(runId);
    startRun(new RunSetup(admitted.spec(), admitted.config(), admitted.shards(), admitted.directory(),
        incarnation, getContext().getSelf(), clock, store, null, settings));
    admitted.replyTo().tell(new SubmitReply.Accepted(runId, admitted.directory().path().toString()));
    return this;
  }

  private Behavior<CoordinatorCommand> onRunRefused(RunRefused refused) {
    admitting.remove(refused.runId());
    refused.replyTo().tell(new SubmitReply.Rejected(refused.error(), refused.why()));
    return this;
  }

  private void startRun(RunSetup setup) {
    String runId = setup.spec().runId();
    RunRecord recovered = setup.recovered();
    // Until the run actor's first report arrives, a client asking about the run (it has its id already) must
    // find it. Taken before the run actor owns the table.
    boolean resumed = setup.resumed() != null;
    RunState state = recovered == null || resumed ? RunState.PENDING : recovered.status();
    long submittedMs = recovered == null ? clock.millis() : recovered.submittedUnixMs();
    RunStatus initial = new RunStatus(runId, setup.config().name, state, submittedMs, 0, 0, 0,
        setup.shards().totalSteps(), Float.NaN, 0, 0, 0, "", setup.shards().statuses(), List.of(),
        setup.directory().path().toString(), List.of(), RunCounters.ZERO, "");
    String name = setup.resumed() == null ? "run-" + runId : "run-" + runId + "-resumed-" + (++resumptions);
    ActorRef<RunCommand> actor =
        getContext().spawn(fence.guard(RunActor.create(setup), RunCommand.class), name, DISPATCHER);
    // A run actor of the run's earlier life (it ended and was resumed since) is no longer in the queue: its stop is
    // not this run's.
    getContext().watch(actor);
    runs.add(runId, actor, setup.config().priority, setup.config().gangSize(), submittedMs,
        recovered != null && !resumed && recovered.startedUnixMs() != null, initial);
  }

  /** Restarts a run an earlier incarnation left unfinished, or records why it cannot be. */
  private void recover(RunRecord record) {
    String runId = record.runId();
    try {
      RunRecovery.Recovered run = RunRecovery.recover(record, store, runsDir);
      startRun(new RunSetup(run.spec(), run.config(), run.shards(), run.directory(), incarnation,
          getContext().getSelf(), clock, store, record, settings));
      getContext().getLog().info("recovered run {} ({})", runId, record.status().wireName());
    } catch (IOException | RuntimeException e) {
      String reason = "cannot recover the run after a coordinator failover: " + e.getMessage();
      getContext().getLog().error("run {}: {}", runId, reason);
      try {
        RunRecovery.fail(record, reason, store, clock.millis());
      } catch (RuntimeException storeFailure) {
        getContext().getLog().error("run {}: cannot record the failure either: {}", runId, storeFailure.getMessage());
      }
    }
  }

  // --- resume ---

  /** A person resumes a stopped or failed run; prepared off this thread (the store, the run directory). */
  private Behavior<CoordinatorCommand> onResumeRun(CoordinatorCommand.ResumeRun resume) {
    String runId = resume.runId();
    RunQueue.Run run = runs.get(runId);
    if (admitting.contains(runId) || (run != null && run.active())) {
      String state = run != null && run.active() ? runs.status(runId).state().wireName() : "being admitted";
      resume.replyTo().tell(new CoordinatorCommand.ResumeReply(runId, CoordinatorCommand.ResumeOutcome.NOT_RESUMABLE,
          "run " + runId + " is " + state + "; only a stopped or failed run can be resumed", ""));
      return this;
    }
    admitting.add(runId);
    getContext().pipeToSelf(CompletableFuture.supplyAsync(() -> {
      try {
        return RunResumption.prepare(runId, resume.overrides(), store, runsDir);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }, admission.blocking()), (prepared, failure) -> prepared != null
        ? new ResumePrepared(prepared, resume.replyTo())
        : resumeFailed(runId, failure, resume.replyTo()));
    return this;
  }

  private static ResumeFailed resumeFailed(String runId, Throwable failure,
      ActorRef<CoordinatorCommand.ResumeReply> replyTo) {
    Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
        ? failure.getCause() : failure;
    if (cause instanceof RunResumption.Refused refused) {
      return new ResumeFailed(runId, refused.outcome, refused.getMessage(), replyTo);
    }
    return new ResumeFailed(runId, CoordinatorCommand.ResumeOutcome.NOT_RESUMABLE,
        "run " + runId + " cannot be resumed: " + cause.getMessage(), replyTo);
  }

  private Behavior<CoordinatorCommand> onResumePrepared(ResumePrepared prepared) {
    RunResumption.Prepared run = prepared.run();
    String runId = run.spec().runId();
    admitting.remove(runId);
    startRun(new RunSetup(run.spec(), run.config(), run.shards(), run.directory(), incarnation,
        getContext().getSelf(), clock, store, run.record(), settings, run.resumed()));
    getContext().getLog().info("run {} resumed (was {}); shards {} continue from their checkpoints", runId,
        run.record().status().wireName(), run.resumed().pending());
    prepared.replyTo().tell(new CoordinatorCommand.ResumeReply(runId, CoordinatorCommand.ResumeOutcome.RESUMED,
        "run " + runId + " resumes (it was " + run.record().status().wireName() + "); shards " + run.resumed().pending()
            + " continue from their checkpoints", run.directory().path().toString()));
    return this;
  }

  private Behavior<CoordinatorCommand> onResumeFailed(ResumeFailed failed) {
    admitting.remove(failed.runId());
    failed.replyTo().tell(new CoordinatorCommand.ResumeReply(failed.runId(), failed.outcome(), failed.message(), ""));
    return this;
  }

  private String newRunId() {
    String id;
    do {
      id = "run-" + RUN_ID_TIME.format(clock.instant()) + "-"
          + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000, 0x10000));
    } while (runs.contains(id) || admitting.contains(id));
    return id;
  }

  private Behavior<CoordinatorCommand> onStopRun(StopRun stop) {
    RunQueue.Run run = runs.get(stop.runId());
    if (run == null) {
      stop.replyTo().tell(new StopReply(stop.runId(), false, "no run with id '" + stop.runId() + "'"));
    } else if (!run.active()) {
      stop.replyTo().tell(new StopReply(stop.runId(), false,
          "run " + stop.runId() + " is already " + run.summary().status().wireName()));
    } else {
      run.actor.tell(new CoordinatorProtocol.Stop(stop.reason(), stop.replyTo()));
    }
    return this;
  }

  private Behavior<CoordinatorCommand> onWatchRun(WatchRun watch) {
    RunQueue.Run run = runs.get(watch.runId());
    if (run == null) {
      watch.subscriber().tell(new RunUpdate.UnknownRun(watch.runId()));
    } else if (!run.active()) {
      watch.subscriber().tell(new RunUpdate.Finished(watch.runId(), run.summary()));
    } else {
      runs.watched(watch.runId(), watch.subscriber());
      run.actor.tell(new CoordinatorProtocol.Watch(watch.subscriber()));
    }
    return this;
  }

  private Behavior<CoordinatorCommand> onGetRun(GetRun get) {
    get.replyTo().tell(new CoordinatorCommand.RunStatusReply(get.runId(), runs.status(get.runId())));
    return this;
  }

  private Behavior<CoordinatorCommand> onListRuns(ListRuns list) {
    list.replyTo().tell(new CoordinatorCommand.RunsReply(runs.statuses()));
    return this;
  }

  private Behavior<CoordinatorCommand> onStatusChanged(StatusChanged changed) {
    runs.statusChanged(changed.status());
    return this;
  }

  private Behavior<CoordinatorCommand> onWorkersUnused(CoordinatorProtocol.WorkersUnused unused) {
    if (workers.unused(unused.runId(), unused.workerIds())) dispatch();
    return this;
  }

  private Behavior<CoordinatorCommand> onRunEnded(RunEnded ended) {
    RunQueue.Run run = runs.get(ended.runId());
    if (run != null) {
      runs.ended(ended.runId(), ended.summary(), ended.status());
      run.actor.tell(CoordinatorProtocol.Retire.INSTANCE);
    }
    withdrawOffers(ended.runId());
    return this;
  }

  /** A run actor stopped: retired after its run ended, or crashed ({@code cause}) before. Only run actors are watched. */
  private Behavior<CoordinatorCommand> onRunActorStopped(ActorRef<Void> actor, Throwable cause) {
    String runId = runs.runIdOf(actor);
    if (runId == null) return this;
    if (runs.active(runId) != null) crashed(runId, cause);
    withdrawOffers(runId);
    return this;
  }

  /**
   * The run actor stopped before it ended the run: the run ends FAILED with why, in the run store too; its watchers
   * are told (so no client waits for an end that would never come) and its attempts are stopped.
   */
  private void crashed(String runId, Throwable cause) {
    String reason = "the run actor stopped unexpectedly" + (cause == null ? "" : ": " + cause)
        + " (see the coordinator log)";
    getContext().getLog().error("run {} failed: {}", runId, reason);
    long nowMs = clock.millis();
    RunStatus last = runs.status(runId);
    List<ActorRef<RunUpdate>> watchers = runs.crashed(runId, reason, nowMs);
    RunUpdate.Finished finished = new RunUpdate.Finished(runId, runs.get(runId).summary());
    watchers.forEach(watcher -> watcher.tell(finished));
    try {
      store.run(runId).ifPresent(record -> RunRecovery.fail(record, reason, store, nowMs));
    } catch (RuntimeException e) {
      getContext().getLog().error("run {}: cannot record its failure in the store: {}", runId, e.getMessage());
    }
    for (RunStatus.ShardStatus shard : last.shards()) {
      if (shard.state() != ShardState.ASSIGNED && shard.state() != ShardState.RUNNING) continue;
      for (String workerId : new String[] {shard.workerId(), shard.speculativeWorkerId()}) {
        ActorRef<WorkerCommand> worker = workerId == null ? null : workers.ref(workerId);
        if (worker != null) worker.tell(new WorkerCommand.StopShard(incarnation, runId, shard.shard(), reason));
      }
    }
  }

  /** Offers to a run that has ended will never be answered: the workers are idle again. */
  private void withdrawOffers(String runId) {
    workers.withdrawOffers(runId);
    dispatch();
  }
}
