package io.quarry.worker;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.WorkerCommand.RunSized;

/**
 * Sizes a submitted run's training data where the data is, on a worker, for the coordinator's
 * {@link io.quarry.protocol.WorkerCommand.SizeRun}: the run's trainer ({@code io.quarry.config.TrainerSpec}) counts
 * its samples. Blocking (a csv's rows are counted, an image folder listed): the worker runs it on its sizing
 * dispatcher, never on its actor thread.
 */
final class RunSizing {
  private RunSizing() {}

  /**
   * The run's size, or why it has none: the config error a person reads (a missing file names the key and the path),
   * with {@code samples} -1. Never throws, so the coordinator always gets an answer.
   */
  static RunSized size(RunSpec spec, String workerId, RunPermissions permissions) {
    try {
      RunConfig config = RunConfig.parse(spec.configHocon());
      java.util.Optional<String> refusal = permissions.refusal(config);
      if (refusal.isPresent()) return new RunSized(spec.runId(), -1, refusal.get(), workerId);
      return new RunSized(spec.runId(), config.datasetSamples(), "", workerId);
    } catch (RunConfigException e) {
      return new RunSized(spec.runId(), -1, e.getMessage(), workerId);
    } catch (RuntimeException e) {
      return new RunSized(spec.runId(), -1, "worker " + workerId + " could not size the run's data: " + e, workerId);
    }
  }
}
