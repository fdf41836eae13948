package io.quarry.protocol;

import org.apache.pekko.actor.typed.ActorRef;

/** What the coordinator singleton understands from workers and clients. */
public sealed interface CoordinatorCommand
    permits CoordinatorCommand.RequestWork,
        CoordinatorCommand.ShardInProgress,
        CoordinatorCommand.Redeliver,
        CoordinatorCommand.SubmitRun,
        CoordinatorCommand.StopRun,
        CoordinatorCommand.WatchRun,
        CoordinatorCommand.GetWorkers,
        CoordinatorCommand.GetRun,
        CoordinatorCommand.ListRuns,
        CoordinatorCommand.ResumeRun,
        CoordinatorCommand.HostReported,
        CoordinatorCommand.Local {

  /** Messages private to the coordinator's implementation; they never leave its JVM. */
  non-sealed interface Local extends CoordinatorCommand, LocalMessage {}

  /**
   * An idle worker asks for work (work pulling).
   *
   * @param incarnation the coordinator incarnation the worker answers to
   * @param workerId unique within the cluster, e.g. {@code host:port/cpu-0}
   * @param device the device it trains on ({@code cpu}, {@code gpu:0})
   * @param allowance what its operator allows its runs (programs, data roots): the coordinator admits no run that no
   *     worker allows
   */
  record RequestWork(
      long incarnation, String workerId, String device, ActorRef<WorkerCommand> worker, WorkerAllowance allowance)
      implements CoordinatorCommand, QuarryMessage {
    /** A worker that allows no program and no data root (stand-ins in tests that train only what needs neither). */
    public RequestWork(long incarnation, String workerId, String device, ActorRef<WorkerCommand> worker) {
      this(incarnation, workerId, device, worker, WorkerAllowance.NOTHING);
    }
  }

  /**
   * A busy worker introduces itself to a new coordinator incarnation: it is training this shard attempt and
   * keeps doing so. The run adopts the attempt ({@link WorkerCommand.AdoptShard}) or tells the worker to stop it.
   */
  record ShardInProgress(
      long incarnation,
      String workerId,
      String device,
      ActorRef<WorkerCommand> worker,
      String runId,
      int shard,
      int attempt,
      WorkerAllowance allowance)
      implements CoordinatorCommand, QuarryMessage {}

  /**
   * A worker's last lifecycle report, sent again to a new coordinator incarnation because the run actor it was
   * first sent to may have died before recording it. Runs ignore reports they already have, so this is idempotent.
   */
  record Redeliver(long incarnation, RunCommand.ShardReport report) implements CoordinatorCommand, QuarryMessage {}

  /** Submit a run; the answer is {@link SubmitReply.Accepted} with the run id or {@link SubmitReply.Rejected} with the error. */
  record SubmitRun(RunSpec spec, ActorRef<SubmitReply> replyTo) implements CoordinatorCommand, QuarryMessage {}

  /** Stop a run; it goes STOPPING, then STOPPED once every shard has stopped. */
  record StopRun(String runId, String reason, ActorRef<StopReply> replyTo)
      implements CoordinatorCommand, QuarryMessage {}

  /** Follow a run: the subscriber receives {@link RunUpdate}s until the run ends. */
  record WatchRun(String runId, ActorRef<RunUpdate> subscriber) implements CoordinatorCommand, QuarryMessage {}

  /** One run's status; the answer's {@code status} is {@code null} when there is no such run. */
  record GetRun(String runId, ActorRef<RunStatusReply> replyTo) implements CoordinatorCommand, QuarryMessage {}

  /** The answer to {@link GetRun}. */
  record RunStatusReply(String runId, RunStatus status) implements QuarryMessage {}

  /** Every run the coordinator knows, in submission order. */
  record ListRuns(ActorRef<RunsReply> replyTo) implements CoordinatorCommand, QuarryMessage {}

  /** The answer to {@link ListRuns}. */
  record RunsReply(java.util.List<RunStatus> runs) implements QuarryMessage {
    public RunsReply {
      runs = java.util.List.copyOf(runs);
    }
  }

  /** List the workers the coordinator knows, in the order it found them. */
  record GetWorkers(ActorRef<WorkersReply> replyTo) implements CoordinatorCommand, QuarryMessage {}

  /**
   * One worker as the coordinator sees it.
   *
   * @param workerId the id it registered with; {@code null} until it first asked for work
   * @param device its device, {@code null} until it first asked for work
   * @param state UP, IDLE, BUSY or LOST
   * @param runId the run it trains a shard of, or {@code null}
   */
  record WorkerInfo(String workerId, String device, WorkerState state, String runId) implements QuarryMessage {}

  /**
   * A worker says how busy its host is (sent every {@code quarry.worker.host-report-interval} while it knows a
   * coordinator): the Cluster page's CPU, memory and GPU columns.
   */
  record HostReported(long incarnation, String workerId, HostLoad load) implements CoordinatorCommand, QuarryMessage {}

  /** A worker's host and its last reported load. */
  record WorkerHost(String workerId, HostLoad load) implements QuarryMessage {}

  /**
   * The answer to {@link GetWorkers}.
   *
   * @param hosts the last load each live worker reported of its host (none before a first report)
   */
  record WorkersReply(java.util.List<WorkerInfo> workers, java.util.List<WorkerHost> hosts) implements QuarryMessage {
    public WorkersReply {
      workers = java.util.List.copyOf(workers);
      hosts = java.util.List.copyOf(hosts);
    }

    /** Workers with no host reports. */
    public WorkersReply(java.util.List<WorkerInfo> workers) {
      this(workers, java.util.List.of());
    }

    /** Workers that have asked for work and are not lost. */
    public long ready() {
      return workers.stream().filter(w -> w.workerId() != null && w.state() != WorkerState.LOST).count();
    }
  }

  /** The answer to {@link SubmitRun}. */
  sealed interface SubmitReply extends QuarryMessage {
    record Accepted(String runId, String runDir) implements SubmitReply {}

    /**
     * The run was not accepted: {@code error} says why, {@code why} what kind of refusal it is (for the HTTP status).
     */
    record Rejected(String error, Why why) implements SubmitReply {
      /** A refusal of the run as asked. */
      public Rejected(String error) {
        this(error, Why.INVALID);
      }
    }

    /** Why a submission was rejected. */
    enum Why {
      /** The run as asked cannot be run: its config, its data, a program no worker allows. */
      INVALID,
      /** Its run id is taken. */
      TAKEN,
      /** The queue holds as many waiting runs as it may ({@code quarry.coordinator.max-queued-runs}); try later. */
      FULL
    }
  }

  /** The answer to {@link StopRun}. */
  record StopReply(String runId, boolean accepted, String message) implements QuarryMessage {}

  /**
   * Resume a STOPPED or FAILED run as the same run: each unfinished shard continues from its newest checkpoint, with
   * {@code overrides} ({@code key=value}) of the keys a resumed run may change. The answer is a {@link ResumeReply}.
   */
  record ResumeRun(String runId, java.util.List<String> overrides, ActorRef<ResumeReply> replyTo)
      implements CoordinatorCommand, QuarryMessage {
    public ResumeRun {
      overrides = java.util.List.copyOf(overrides);
    }
  }

  /**
   * The answer to {@link ResumeRun}: whether the run resumes, else why not.
   *
   * @param outcome what happened
   * @param message for people: what resumes, or what was wrong and what is allowed
   * @param runDir the run directory when it resumes, else empty
   */
  record ResumeReply(String runId, ResumeOutcome outcome, String message, String runDir) implements QuarryMessage {}

  /** How a {@link ResumeRun} ended. */
  enum ResumeOutcome {
    /** The run is PENDING again, under the same id, and continues once workers are free. */
    RESUMED,
    /** No run has that id. */
    UNKNOWN,
    /** The run is not STOPPED or FAILED: it completed, or it is still going. */
    NOT_RESUMABLE,
    /** An override changes what a resumed run must keep, or is not valid. */
    INVALID
  }
}
