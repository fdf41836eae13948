package io.quarry.coordinator.http.dashboard;

import io.quarry.protocol.CoordinatorCommand.GetRun;
import io.quarry.protocol.CoordinatorCommand.GetWorkers;
import io.quarry.protocol.CoordinatorCommand.ListRuns;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunStatus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * The runs and workers as the coordinator knows them. Answers are shared for {@code maxAgeMs}: however many pages
 * follow the runs, the coordinator is asked about them a few times a second at most, so fifty open dashboards cost
 * a run nothing it would notice.
 */
final class CoordinatorRunSource implements RunSource {
  private record Answer<T>(long atMs, CompletableFuture<T> value) {}

  private final ActorSystem<?> system;
  private final ActorRef<CoordinatorCommand> coordinator;
  private final Duration askTimeout;
  private final long maxAgeMs;
  private final LongSupplier clockMs;
  private volatile Answer<List<RunStatus>> runs;
  private volatile Answer<CoordinatorCommand.WorkersReply> workers;
  private final ConcurrentHashMap<String, Answer<Optional<RunStatus>>> byId = new ConcurrentHashMap<>();

  CoordinatorRunSource(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator, Duration askTimeout,
      long maxAgeMs) {
    this.system = system;
    this.coordinator = coordinator;
    this.askTimeout = askTimeout;
    this.maxAgeMs = maxAgeMs;
    this.clockMs = System::currentTimeMillis;
  }

  @Override
  public CompletionStage<List<RunStatus>> runs() {
    long now = clockMs.getAsLong();
    Answer<List<RunStatus>> last = runs;
    if (last != null && now - last.atMs() < maxAgeMs && !last.value().isCompletedExceptionally()) return last.value();
    CompletableFuture<List<RunStatus>> asked = AskPattern.<CoordinatorCommand, CoordinatorCommand.RunsReply>ask(
        coordinator, ListRuns::new, askTimeout, system.scheduler()).thenApply(CoordinatorCommand.RunsReply::runs)
        .toCompletableFuture();
    runs = new Answer<>(now, asked);
    return asked;
  }

  @Override
  public CompletionStage<Optional<RunStatus>> run(String runId) {
    long now = clockMs.getAsLong();
    Answer<Optional<RunStatus>> last = byId.get(runId);
    if (last != null && now - last.atMs() < maxAgeMs && !last.value().isCompletedExceptionally()) return last.value();
    CompletableFuture<Optional<RunStatus>> asked = AskPattern.<CoordinatorCommand, CoordinatorCommand.RunStatusReply>ask(
        coordinator, replyTo -> new GetRun(runId, replyTo), askTimeout, system.scheduler())
        .thenApply(reply -> Optional.ofNullable(reply.status())).toCompletableFuture();
    if (byId.size() > 1000) byId.clear();
    byId.put(runId, new Answer<>(now, asked));
    return asked;
  }

  @Override
  public CompletionStage<Optional<Path>> runDir(String runId) {
    return run(runId).thenApply(status -> status.map(run -> Path.of(run.runDir())));
  }

  @Override
  public CompletionStage<CoordinatorCommand.WorkersReply> workers() {
    long now = clockMs.getAsLong();
    Answer<CoordinatorCommand.WorkersReply> last = workers;
    if (last != null && now - last.atMs() < maxAgeMs && !last.value().isCompletedExceptionally()) return last.value();
    CompletableFuture<CoordinatorCommand.WorkersReply> asked = AskPattern.<CoordinatorCommand,
        CoordinatorCommand.WorkersReply>ask(coordinator, GetWorkers::new, askTimeout, system.scheduler())
        .toCompletableFuture();
    workers = new Answer<>(now, asked);
    return asked;
  }

  @Override
  public boolean readOnly() {
    return false;
  }
}
