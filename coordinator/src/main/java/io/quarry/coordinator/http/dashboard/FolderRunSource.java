package io.quarry.coordinator.http.dashboard;

import io.quarry.coordinator.run.RunDirectory;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunStatus;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.stream.Stream;

/**
 * The runs of a runs directory as their files tell them, with no coordinator ({@code quarry dashboard --runs-dir}):
 * every subdirectory with an {@code events.jsonl} is a run, its status built from its events and scalars
 * ({@link RunStatusFromEvents}); a run still being written by a coordinator elsewhere is followed as it grows.
 * Read-only. Files are read on {@code files}, never on the caller's thread.
 */
final class FolderRunSource implements RunSource {
  private final Path runsDir;
  private final RunFolders folders;
  private final Executor files;

  FolderRunSource(Path runsDir, RunFolders folders, Executor files) {
    this.runsDir = runsDir;
    this.folders = folders;
    this.files = files;
  }

  @Override
  public CompletionStage<List<RunStatus>> runs() {
    return CompletableFuture.supplyAsync(() -> {
      List<RunStatus> out = new ArrayList<>();
      for (Path dir : runDirs()) {
        RunStatus status = status(dir);
        if (status != null) out.add(status);
      }
      out.sort(Comparator.comparingLong(RunStatus::submittedUnixMs).thenComparing(RunStatus::runId));
      return out;
    }, files);
  }

  @Override
  public CompletionStage<Optional<RunStatus>> run(String runId) {
    return CompletableFuture.supplyAsync(() -> {
      if (!RunDirectory.RUN_ID.matcher(runId).matches()) return Optional.empty();
      Path dir = runsDir.resolve(runId);
      return Files.isRegularFile(dir.resolve("events.jsonl")) ? Optional.ofNullable(status(dir)) : Optional.empty();
    }, files);
  }

  @Override
  public CompletionStage<Optional<Path>> runDir(String runId) {
    if (!RunDirectory.RUN_ID.matcher(runId).matches()) return CompletableFuture.completedFuture(Optional.empty());
    Path dir = runsDir.resolve(runId);
    return CompletableFuture.completedFuture(
        Files.isRegularFile(dir.resolve("events.jsonl")) ? Optional.of(dir) : Optional.empty());
  }

  @Override
  public CompletionStage<CoordinatorCommand.WorkersReply> workers() {
    return CompletableFuture.completedFuture(new CoordinatorCommand.WorkersReply(List.of()));
  }

  @Override
  public boolean readOnly() {
    return true;
  }

  private List<Path> runDirs() {
    if (!Files.isDirectory(runsDir)) return List.of();
    try (Stream<Path> entries = Files.list(runsDir)) {
      return entries.filter(dir -> RunDirectory.RUN_ID.matcher(dir.getFileName().toString()).matches())
          .filter(dir -> Files.isRegularFile(dir.resolve("events.jsonl"))).toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + runsDir, e);
    }
  }

  /** The run in {@code dir}, or null when its events do not start with run_submitted (not a run, or not yet). */
  private RunStatus status(Path dir) {
    String runId = dir.getFileName().toString();
    RunFolder folder = folders.folder(dir, runId);
    try {
      return folder.read(System.nanoTime(), read -> read.digest().submitted()
          ? read.digest().status(dir.toString(), read.mergeCount(), read.merge(HardExamplesView.lastWithEntries(read))) : null);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read run " + runId + " in " + dir, e);
    }
  }
}
