package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.coordinator.run.LineFile;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.ShardPlan;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.protocol.CoordinatorCommand.SubmitReply.Why;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.LocalMessage;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.WorkerCommand;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The admission of one submitted run, a short-lived child of the coordinator that answers it once and stops. It sizes
 * the run's data — asking a worker (the data is where the workers are) when the coordinator has one, else, or if the
 * worker does not answer within {@code quarry.coordinator.sizing-timeout}, on the coordinator's blocking dispatcher
 * (the trainer's config section is on the coordinator's class path too) — then plans the shards, creates the run
 * directory and records the run in the store, on that dispatcher too: nothing of it blocks the coordinator.
 */
final class RunAdmission {
  private interface Command extends LocalMessage {}

  /** The run's data holds {@code samples} samples, or {@code error} says why it cannot be sized. */
  private record Sized(long samples, String error) implements Command {}

  /** The worker asked did not answer in time. */
  private enum WorkerSilent implements Command {
    INSTANCE
  }

  /** The run directory and records exist, or {@code error} says why not. */
  private record Recorded(RunDirectory directory, ShardTable shards, String error, Why why) implements Command {
    static Recorded refused(String error) {
      return new Recorded(null, null, error, Why.INVALID);
    }

    static Recorded taken(String error) {
      return new Recorded(null, null, error, Why.TAKEN);
    }
  }

  /**
   * A run to admit.
   *
   * @param spec the run, with its id chosen
   * @param config its parsed config
   * @param shardCount how many shards it is cut into
   * @param replyTo the submitter, answered by the coordinator when admission ends
   */
  record Request(RunSpec spec, RunConfig config, int shardCount, ActorRef<SubmitReply> replyTo) {}

  /** Where admission writes and whom it asks ({@code files} opens the files of run directories). */
  record Context(long incarnation, Path runsDir, RunStore store, Clock clock, Executor blocking,
      Duration sizingTimeout, LineFile.Opener files, ActorRef<CoordinatorCommand> coordinator) {}

  private final ActorContext<Command> actor;
  private final Request request;
  private final Context where;

  private RunAdmission(ActorContext<Command> actor, Request request, Context where) {
    this.actor = actor;
    this.request = request;
    this.where = where;
  }

  /** Admits {@code request}, asking {@code sizer} (null: none) to size it first. */
  static Behavior<Command> create(Request request, ActorRef<WorkerCommand> sizer, Context where) {
    return Behaviors.setup(context -> new RunAdmission(context, request, where).sizing(sizer));
  }

  private Behavior<Command> sizing(ActorRef<WorkerCommand> sizer) {
    if (sizer == null) {
      sizeHere();
    } else {
      actor.ask(WorkerCommand.RunSized.class, sizer, where.sizingTimeout(),
          replyTo -> new WorkerCommand.SizeRun(where.incarnation(), request.spec(), replyTo),
          (sized, failure) -> sized == null ? WorkerSilent.INSTANCE : new Sized(sized.samples(), sized.error()));
    }
    return Behaviors.receive(Command.class)
        .onMessage(Sized.class, this::onSized)
        .onMessageEquals(WorkerSilent.INSTANCE, this::onWorkerSilent)
        .onMessage(Recorded.class, this::onRecorded)
        .build();
  }

  private Behavior<Command> onWorkerSilent() {
    actor.getLog().info("run {}: no worker sized its data within {}; sizing it here", request.spec().runId(),
        where.sizingTimeout());
    sizeHere();
    return Behaviors.same();
  }

  /** Sizes the data on the blocking dispatcher: it may read files (a csv's rows). */
  private void sizeHere() {
    actor.pipeToSelf(CompletableFuture.supplyAsync(request.config()::datasetSamples, where.blocking()),
        (samples, failure) -> samples != null ? new Sized(samples, "") : new Sized(-1, message(failure)));
  }

  private Behavior<Command> onSized(Sized sized) {
    if (!sized.error().isEmpty()) return refuse(sized.error());
    if (request.shardCount() > sized.samples()) {
      return refuse("config key 'shards': " + request.shardCount() + " shards for a dataset of " + sized.samples()
          + " samples; allowed: at most one shard per sample");
    }
    actor.pipeToSelf(CompletableFuture.supplyAsync(() -> record(sized.samples()), where.blocking()),
        (recorded, failure) -> recorded != null ? recorded : Recorded.refused(message(failure)));
    return Behaviors.same();
  }

  /** Creates the run directory and the run's records; blocking. */
  private Recorded record(long samples) {
    String runId = request.spec().runId();
    RunConfig config = request.config();
    if (where.store().run(runId).isPresent()) {
      return Recorded.taken("a run with id '" + runId + "' exists already (in the run store)");
    }
    String initFrom = initFromProblem(config);
    if (initFrom != null) return Recorded.refused(initFrom);
    if (java.nio.file.Files.exists(where.runsDir().resolve(runId))) {
      return Recorded.taken("run directory " + where.runsDir().resolve(runId) + " already exists; choose another run id");
    }
    RunDirectory directory;
    try {
      directory = RunDirectory.create(where.runsDir(), runId, request.spec().configHocon(), where.files());
    } catch (IllegalArgumentException e) {
      return Recorded.refused(e.getMessage());
    } catch (IOException e) {
      return Recorded.refused("cannot create the run directory under " + where.runsDir() + ": " + e);
    }
    ShardTable shards = new ShardTable(ShardPlan.plan(samples, request.shardCount()), config.batchSize, config.epochs,
        config.maxAttempts);
    try {
      where.store().createRun(new RunRecord(runId, config.name, request.spec().configHocon(), RunState.PENDING,
          where.clock().millis(), null, null, null, null));
      where.store().upsertShards(RunLedger.records(runId, shards));
    } catch (RuntimeException e) {
      directory.close();
      return Recorded.refused("cannot record the run in the run store: " + e.getMessage());
    }
    return new Recorded(directory, shards, "", null);
  }

  /**
   * Why {@code init.from} cannot be honoured, or null: the run it names must be in the store, trained by the same
   * trainer, and have written checkpoints in this runs directory. (Which checkpoint, and whether it holds this model's
   * parameters, the worker finds out: a mismatch fails the attempt naming the file.)
   */
  private String initFromProblem(RunConfig config) {
    if (config.initFrom == null) return null;
    String source = config.initFrom.runId();
    java.util.Optional<RunRecord> record = where.store().run(source);
    if (record.isEmpty()) {
      return "config key 'init.from': no run '" + source + "' in the run store; allowed: a run of this coordinator that "
          + "wrote checkpoints (quarry runs lists them)";
    }
    String trainer = RunConfig.parse(record.get().configHocon()).trainer;
    if (!trainer.equals(config.trainer)) {
      return "config key 'init.from': run " + source + " was trained by trainer " + trainer + ", this run by "
          + config.trainer + "; allowed: a run of the same trainer and model";
    }
    java.nio.file.Path checkpoints = where.runsDir().resolve(source).resolve("checkpoints");
    try (var files = java.nio.file.Files.walk(checkpoints, 4)) {
      if (files.noneMatch(path -> path.getFileName().toString().equals("manifest.json"))) {
        return "config key 'init.from': run " + source + " has no checkpoint under " + checkpoints;
      }
    } catch (IOException | java.io.UncheckedIOException e) {
      return "config key 'init.from': cannot read the checkpoints of run " + source + " under " + checkpoints;
    }
    return null;
  }

  private Behavior<Command> onRecorded(Recorded recorded) {
    if (!recorded.error().isEmpty()) return refuse(recorded.error(), recorded.why());
    where.coordinator().tell(new CoordinatorProtocol.RunAdmitted(request.spec(), request.config(), recorded.shards(),
        recorded.directory(), request.replyTo()));
    return Behaviors.stopped();
  }

  private Behavior<Command> refuse(String error) {
    return refuse(error, Why.INVALID);
  }

  private Behavior<Command> refuse(String error, Why why) {
    where.coordinator().tell(new CoordinatorProtocol.RunRefused(request.spec().runId(), error, why, request.replyTo()));
    return Behaviors.stopped();
  }

  /** The message a person reads: a config error's own, else what went wrong. */
  private static String message(Throwable failure) {
    Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    return cause instanceof RunConfigException ? cause.getMessage() : "cannot size the run's data: " + cause;
  }
}
