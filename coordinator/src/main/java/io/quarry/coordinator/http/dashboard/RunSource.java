package io.quarry.coordinator.http.dashboard;

import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunStatus;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * Where the dashboard learns what runs there are and how they stand: the coordinator ({@link CoordinatorRunSource}),
 * or run directories alone ({@link FolderRunSource}, {@code quarry dashboard}). Either way the charts, events and
 * hard examples come from the run's directory.
 */
interface RunSource {
  /** Every run, in submission order. */
  CompletionStage<List<RunStatus>> runs();

  /** One run; empty when there is no such run. */
  CompletionStage<Optional<RunStatus>> run(String runId);

  /** The run's directory on this machine; empty when there is no such run. */
  CompletionStage<Optional<Path>> runDir(String runId);

  /** The workers and their hosts' last reported load (none without a coordinator). */
  CompletionStage<CoordinatorCommand.WorkersReply> workers();

  /** True when nothing can be submitted or stopped (no coordinator). */
  boolean readOnly();
}
