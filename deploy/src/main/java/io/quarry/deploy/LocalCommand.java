package io.quarry.deploy;

import com.typesafe.config.ConfigFactory;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.config.ConfigKey;
import io.quarry.protocol.config.RunConfig;
import io.quarry.protocol.config.RunConfigException;
import io.quarry.protocol.config.RunConfigSchema;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code quarry local}: one JVM, N workers, one run, followed to its end. */
@Command(
    name = "local",
    mixinStandardHelpOptions = true,
    description = {
      "Runs one training run in this JVM with N simulated devices (workers) and follows it to its end.",
      "Exit code 0 when the run completed, 1 when it failed or was stopped, 2 for bad usage or config."
    },
    footerHeading = "%nRun-config keys (key=value, default shown):%n")
final class LocalCommand implements Callable<Integer> {
  static final int MAX_WORKERS = 1024;

  @Option(names = "--workers", paramLabel = "N", defaultValue = "4", description = "workers (simulated devices), default ${DEFAULT-VALUE}")
  int workers;

  @Option(names = "--trainer", paramLabel = "NAME", description = "the trainer: stub or process (same as trainer=NAME)")
  String trainer;

  @Option(names = "--run-id", paramLabel = "ID", description = "the run id (default: run-<time>-<random>)")
  String runId;

  @Option(names = "--runs-dir", paramLabel = "DIR", defaultValue = "runs", description = "where run directories go, default ${DEFAULT-VALUE}")
  Path runsDir;

  @Option(names = "--no-telemetry", description = "fast mode: lifecycle events only (also QUARRY_DISABLE_TELEMETRY=true)")
  boolean noTelemetry;

  @Parameters(paramLabel = "KEY=VALUE", arity = "0..*", description = "run-config overrides, e.g. epochs=3 hard-examples.k=64 seed=7")
  List<String> overrides = new ArrayList<>();

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  private final PrintStream out = System.out;
  private final PrintStream err = System.err;

  @Override
  public Integer call() {
    RunConfig config;
    try {
      config = resolveConfig();
    } catch (RunConfigException e) {
      err.println("quarry local: " + e.getMessage());
      return QuarryCli.EXIT_USAGE;
    }
    if (runId != null && !io.quarry.coordinator.run.RunDirectory.RUN_ID.matcher(runId).matches()) {
      err.println("quarry local: --run-id '" + runId + "' is not allowed; use 1-128 letters, digits, '.', '_' or '-'");
      return QuarryCli.EXIT_USAGE;
    }
    if (runId != null && Files.exists(runsDir.resolve(runId))) {
      err.println("quarry local: run directory " + runsDir.resolve(runId) + " already exists; choose another --run-id");
      return QuarryCli.EXIT_USAGE;
    }

    try (LocalCluster cluster = LocalCluster.start(workers, runsDir, ConfigFactory.empty())) {
      SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(60, TimeUnit.SECONDS);
      if (reply instanceof SubmitReply.Rejected rejected) {
        err.println("quarry local: " + rejected.error());
        return QuarryCli.EXIT_USAGE;
      }
      String id = ((SubmitReply.Accepted) reply).runId();
      ProgressLine progress = new ProgressLine(out, System.console() != null);
      // Ctrl-C stops the run (STOPPED, exit 1) instead of leaving it half-written.
      CountDownLatch summaryPrinted = new CountDownLatch(1);
      Thread stopOnSignal = new Thread(() -> {
        stopAndWait(cluster, id);
        awaitQuietly(summaryPrinted);
      });
      Runtime.getRuntime().addShutdownHook(stopOnSignal);
      RunSummary summary;
      try {
        summary = cluster.follow(id, progress::update).get();
      } finally {
        removeHook(stopOnSignal);
      }
      progress.finish();
      printSummary(summary);
      summaryPrinted.countDown();
      return summary.status() == RunState.COMPLETED ? QuarryCli.EXIT_COMPLETED : QuarryCli.EXIT_FAILED;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return QuarryCli.EXIT_FAILED;
    } catch (Exception e) {
      err.println("quarry local: " + e);
      return QuarryCli.EXIT_FAILED;
    }
  }

  private static void stopAndWait(LocalCluster cluster, String runId) {
    try {
      cluster.stop(runId, "interrupted (SIGINT/SIGTERM)").toCompletableFuture().get(10, TimeUnit.SECONDS);
      cluster.follow(runId, p -> {}).get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      // The JVM is going down; the run directory keeps what was written.
    }
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void removeHook(Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // Already shutting down: the hook is running.
    }
  }

  private RunConfig resolveConfig() {
    if (workers < 1 || workers > MAX_WORKERS) {
      throw new RunConfigException("--workers: invalid value " + workers + "; allowed: an integer from 1 to " + MAX_WORKERS);
    }
    List<String> all = new ArrayList<>();
    if (trainer != null) all.add("trainer=" + trainer);
    all.addAll(overrides);
    if (noTelemetry) all.add("telemetry.enabled=false");
    return RunConfig.fromOverrides(all, System.getenv());
  }

  private void printSummary(RunSummary summary) {
    List<RunReport.Hardest> hardest = new ArrayList<>();
    for (HardExample example : summary.hardest()) {
      hardest.add(new RunReport.Hardest(example.sampleId(), example.loss(), example.workerId(), example.step()));
    }
    RunReport.print(out, summary.runId(), summary.status().wireName(), summary.steps(), summary.wallMs(),
        summary.samplesPerSec(), summary.merges(), summary.droppedEvents(), summary.stepsRedone(), summary.reason(),
        hardest, summary.runDir());
  }

  /** The key list printed under {@code --help}. */
  static String keysHelp() {
    StringBuilder help = new StringBuilder();
    for (ConfigKey key : RunConfigSchema.keys()) {
      String value = ConfigFactory.defaultReference().getValue("quarry.run." + key.path())
          .render(com.typesafe.config.ConfigRenderOptions.concise());
      help.append(String.format("  %-36s %s (%s)%n", key.path() + "=" + value, key.doc(), key.typeName()));
    }
    return help.toString().replace("%", "%%");
  }
}
