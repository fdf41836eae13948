package io.quarry.deploy;

import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/** A client of a coordinator, from any actor system that can reach it: submit, stop, follow, list workers. */
public final class RunClient {
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(30);
  private static final AtomicLong FOLLOWERS = new AtomicLong();

  private final ActorSystem<?> system;
  private final ActorRef<CoordinatorCommand> coordinator;

  public RunClient(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator) {
    this.system = system;
    this.coordinator = coordinator;
  }

  public CompletionStage<CoordinatorCommand.SubmitReply> submit(RunSpec spec) {
    return AskPattern.ask(coordinator, replyTo -> new CoordinatorCommand.SubmitRun(spec, replyTo), ASK_TIMEOUT,
        system.scheduler());
  }

  public CompletionStage<CoordinatorCommand.StopReply> stop(String runId, String reason) {
    return AskPattern.ask(coordinator, replyTo -> new CoordinatorCommand.StopRun(runId, reason, replyTo), ASK_TIMEOUT,
        system.scheduler());
  }

  /** Resumes a stopped or failed run with {@code overrides} of the keys a resumed run may change. */
  public CompletionStage<CoordinatorCommand.ResumeReply> resume(String runId, java.util.List<String> overrides) {
    return AskPattern.ask(coordinator, replyTo -> new CoordinatorCommand.ResumeRun(runId, overrides, replyTo),
        Duration.ofSeconds(60), system.scheduler());
  }

  public CompletionStage<CoordinatorCommand.RunStatusReply> run(String runId) {
    return AskPattern.ask(coordinator, replyTo -> new CoordinatorCommand.GetRun(runId, replyTo), ASK_TIMEOUT,
        system.scheduler());
  }

  public CompletionStage<CoordinatorCommand.RunsReply> runs() {
    return AskPattern.ask(coordinator, CoordinatorCommand.ListRuns::new, ASK_TIMEOUT, system.scheduler());
  }

  public CompletionStage<CoordinatorCommand.WorkersReply> workers() {
    return AskPattern.ask(coordinator, CoordinatorCommand.GetWorkers::new, ASK_TIMEOUT, system.scheduler());
  }

  /**
   * Follows a run: {@code onProgress} sees every progress update (on an actor thread), and the result completes
   * with the run's summary when it ends (exceptionally if there is no such run).
   */
  public CompletableFuture<RunSummary> follow(String runId, Consumer<RunUpdate.Progressed> onProgress) {
    CompletableFuture<RunSummary> result = new CompletableFuture<>();
    Behavior<RunUpdate> follower = Behaviors.receive(RunUpdate.class)
        .onMessage(RunUpdate.Progressed.class, progressed -> {
          onProgress.accept(progressed);
          return Behaviors.same();
        })
        .onMessage(RunUpdate.Finished.class, finished -> {
          result.complete(finished.summary());
          return Behaviors.stopped();
        })
        .onMessage(RunUpdate.UnknownRun.class, unknown -> {
          result.completeExceptionally(new IllegalArgumentException("no run with id '" + runId + "'"));
          return Behaviors.stopped();
        })
        .build();
    ActorRef<RunUpdate> ref =
        system.systemActorOf(follower, "follow-" + runId + "-" + FOLLOWERS.incrementAndGet(), Props.empty());
    coordinator.tell(new CoordinatorCommand.WatchRun(runId, ref));
    return result;
  }

  /**
   * Waits until the coordinator knows {@code count} ready workers, so that a run submitted next is planned with
   * one shard per worker.
   */
  public void awaitWorkers(int count, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try {
      while (true) {
        CoordinatorCommand.WorkersReply reply =
            workers().toCompletableFuture().get(ASK_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        if (reply.ready() >= count) return;
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("only " + reply.ready() + " of " + count + " workers registered in " + timeout);
        }
        Thread.sleep(20);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for workers", e);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("the coordinator did not answer", e);
    }
  }
}
