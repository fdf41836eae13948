package io.quarry.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.config.RunConfigSchema;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import io.quarry.worker.trainer.TrainerRegistry;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine;

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
  static final String DEFAULT_JOB = "local-default-job.conf";

  @Option(names = "--workers", paramLabel = "N", defaultValue = "4", description = "workers (simulated devices), default ${DEFAULT-VALUE}")
  int workers;

  @Option(names = "--trainer", paramLabel = "NAME", description = "the trainer: stub, process or djl (same as trainer=NAME); without a run file the default job trains "
          + "a CNN with djl, --trainer stub is the instant simulation")
  String trainer;

  @Option(names = "--run-id", paramLabel = "ID", description = "the run id (default: run-<time>-<random>)")
  String runId;

  @Option(names = "--runs-dir", paramLabel = "DIR", defaultValue = "runs", description = "where run directories go, default ${DEFAULT-VALUE}")
  Path runsDir;

  @Option(names = "--store", paramLabel = "URL", description = "the run store (default sqlite:<runs-dir>/quarry.db); on "
      + "another disk than the runs directory it records a run's end even when that disk fills")
  String store;

  @Option(names = "--no-telemetry", description = "fast mode: lifecycle events only (also QUARRY_DISABLE_TELEMETRY=true)")
  boolean noTelemetry;

  @Option(names = "--data-root", paramLabel = "DIR",
      description = "a directory the workers may read data under, besides the working and runs directories (repeatable)")
  List<Path> dataRoots = new ArrayList<>();

  @Option(names = "--dashboard",
      description = "serve the dashboard on 127.0.0.1 while the run lasts, and print its login link")
  boolean dashboard;

  @Option(names = "--dashboard-port", paramLabel = "P",
      description = "the dashboard's port (default " + DashboardCommand.DEFAULT_PORT + "; 0 picks a free one)")
  Integer dashboardPort;

  @Option(names = "--init-from", paramLabel = "RUN_ID[:best|last]",
      description = "start every shard from the parameters of a run in --runs-dir (its best checkpoint, or :last)")
  String initFrom;

  @picocli.CommandLine.Mixin OutputOptions display;

  @Parameters(paramLabel = "[RUN.conf] KEY=VALUE", arity = "0..*",
      description = "an optional run file (HOCON; include works; without one, the default job: a small CNN on synthetic "
          + "images with djl), then run-config overrides, e.g. epochs=3 hard-examples.k=64")
  List<String> positionals = new ArrayList<>();

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  private PrintStream out = System.out;
  private PrintStream err = System.err;

  /** A {@code quarry local} that only follows runs ({@code quarry resume --local}), printing to these streams. */
  static LocalCommand follower(PrintStream out, PrintStream err) {
    LocalCommand command = new LocalCommand();
    command.out = out;
    command.err = err;
    return command;
  }

  @Override
  public Integer call() {
    Plan plan;
    try {
      plan = plan();
    } catch (RunConfigException e) {
      err.println("quarry local: " + e.getMessage());
      return QuarryCli.EXIT_USAGE;
    }
    RunOutput output = new RunOutput(out, display.mode(), plan.runs.size());
    Config local = ConfigFactory.empty().withValue("quarry.worker.data-roots", ConfigValueFactory.fromIterable(
        dataRoots.stream().map(root -> root.toAbsolutePath().normalize().toString()).toList()));
    String storeUrl = store != null ? store : LocalCluster.defaultStoreUrl(runsDir);
    try (LocalCluster cluster = LocalCluster.start(workers, runsDir, storeUrl, local, TrainerRegistry.load()); output) {
      if (dashboard) LocalDashboard.serve(cluster, dashboardPort, err);
      return plan.sweep == null ? runOne(cluster, plan.runs.get(0), output) : runSweep(cluster, plan, output);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return QuarryCli.EXIT_FAILED;
    } catch (Exception e) {
      err.println("quarry local: " + e);
      return QuarryCli.EXIT_FAILED;
    }
  }

  /** One planned run: its id (null: the coordinator chooses) and validated config. */
  record PlannedRun(String runId, RunConfig config, Sweep.Point point) {}

  /** Everything checked before anything runs. */
  record Plan(Sweep sweep, String sweepId, List<PlannedRun> runs) {}

  private Plan plan() {
    if (workers < 1 || workers > MAX_WORKERS) {
      throw new RunConfigException("--workers: invalid value " + workers + "; allowed: an integer from 1 to " + MAX_WORKERS);
    }
    display.check();
    RunArgs args = RunArgs.split(positionals);
    String base = args.runFile() == null ? defaultJob() : args.baseHocon();
    List<String> pre = new ArrayList<>();
    if (trainer != null) pre.add("trainer=" + trainer);
    if (initFrom != null) pre.add(ClientCommands.initFromOverride(initFrom));
    List<String> post = noTelemetry ? List.of("telemetry.enabled=false") : List.of();
    if (runId != null) checkRunId(runId);
    if (!display.multirun) {
      RunConfig config = RunArgs.resolve(base, RunArgs.concat(RunArgs.concat(pre, args.overrides()), post), System.getenv());
      if (runId != null) checkFree(runId);
      return new Plan(null, null, List.of(new PlannedRun(runId, config, null)));
    }
    Sweep sweep = Sweep.expand(args.overrides());
    String sweepId = runId != null ? runId : Sweep.newId();
    checkRunId(sweepId + "-" + (sweep.points.size() - 1));
    Path sweepDir = SweepReport.sweepDir(runsDir, sweepId);
    if (Files.exists(sweepDir)) {
      throw new RunConfigException("sweep directory " + sweepDir + " already exists; choose another --run-id");
    }
    List<PlannedRun> runs = new ArrayList<>();
    for (Sweep.Point point : sweep.points) {
      String id = point.runId(sweepId);
      RunConfig config;
      try {
        config = RunArgs.resolve(base, RunArgs.concat(RunArgs.concat(pre, point.overrides()), post), System.getenv());
      } catch (RunConfigException e) {
        throw RunArgs.inRun(id, point.sweptOverrides(), e);
      }
      checkFree(id);
      runs.add(new PlannedRun(id, config, point));
    }
    return new Plan(sweep, sweepId, runs);
  }

  /** The run of {@code quarry local} without a run file: {@value #DEFAULT_JOB} (a CNN on synthetic images, DJL). */
  static String defaultJob() {
    try (var in = LocalCommand.class.getClassLoader().getResourceAsStream(DEFAULT_JOB)) {
      if (in == null) throw new IllegalStateException(DEFAULT_JOB + " is missing from the class path");
      return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static void checkRunId(String id) {
    if (!io.quarry.coordinator.run.RunDirectory.RUN_ID.matcher(id).matches()) {
      throw new RunConfigException("--run-id '" + id + "' is not allowed; use 1-128 letters, digits, '.', '_' or '-'");
    }
  }

  private void checkFree(String id) {
    if (Files.exists(runsDir.resolve(id))) {
      throw new RunConfigException("run directory " + runsDir.resolve(id) + " already exists; choose another --run-id");
    }
  }

  private volatile String current;
  private volatile boolean interrupted;

  /** Submits and follows one run; Ctrl-C stops it. Returns its result, or null when it was rejected. */
  private RunResult follow(LocalCluster cluster, PlannedRun run, RunOutput output, boolean inSweep) throws Exception {
    SubmitReply reply = cluster.submit(new RunSpec(run.runId(), run.config().toHocon())).toCompletableFuture().get(60, TimeUnit.SECONDS);
    if (reply instanceof SubmitReply.Rejected rejected) {
      err.println("quarry local: " + rejected.error());
      return null;
    }
    return followRun(cluster, ((SubmitReply.Accepted) reply).runId(), output, inSweep);
  }

  /** Follows run {@code id} of {@code cluster} to its end, printing as {@code quarry local} does; Ctrl-C stops it. */
  RunResult followRun(LocalCluster cluster, String id, RunOutput output, boolean inSweep) throws Exception {
    current = id;
    output.runStarted(id);
    CountDownLatch summaryPrinted = new CountDownLatch(1);
    Thread stopOnSignal = new Thread(() -> {
      interrupted = true;
      stopAndWait(cluster, id);
      awaitQuietly(summaryPrinted);
    });
    Runtime.getRuntime().addShutdownHook(stopOnSignal);
    RunSummary summary;
    try {
      summary = cluster.follow(id, output::progress).get();
    } finally {
      removeHook(stopOnSignal);
    }
    RunResult result = RunResult.fromRunDir(id, Path.of(summary.runDir()));
    if (result == null) {
      result = new RunResult(id, summary.status().wireName(), summary.steps(), summary.wallMs(), null, null,
          summary.reason(), summary.runDir(), null);
    }
    output.runEnded(result);
    if (inSweep ? output.verbose() : output.mode() == RunOutput.Mode.QUIET) {
      RunReport.headline(out, summary.runId(), summary.status().wireName(), summary.steps(), summary.wallMs(),
          summary.samplesPerSec(), summary.merges(), summary.droppedEvents(), summary.stepsRedone(), summary.reason(),
          summary.hardExamplesWarning());
    } else if (output.verbose()) {
      printSummary(summary);
    }
    summaryPrinted.countDown();
    return result;
  }

  private int runOne(LocalCluster cluster, PlannedRun run, RunOutput output) throws Exception {
    RunResult result = follow(cluster, run, output, false);
    if (result == null) return QuarryCli.EXIT_USAGE;
    return result.isCompleted() ? QuarryCli.EXIT_COMPLETED : QuarryCli.EXIT_FAILED;
  }

  private int runSweep(LocalCluster cluster, Plan plan, RunOutput output) throws Exception {
    List<SweepReport.Row> rows = new ArrayList<>();
    boolean allCompleted = true;
    for (PlannedRun run : plan.runs()) {
      if (interrupted) break;
      RunResult result = follow(cluster, run, output, true);
      if (result == null) return QuarryCli.EXIT_FAILED;
      rows.add(new SweepReport.Row(run.point(), run.runId(), result));
      allCompleted &= result.isCompleted();
    }
    allCompleted &= rows.size() == plan.runs().size();
    output.close();
    Path csv = SweepReport.writeCsv(SweepReport.sweepDir(runsDir, plan.sweepId()), rows, plan.sweep().sweptKeys);
    printSweepEnd(output, plan.sweepId(), plan.sweep().sweptKeys, rows, plan.runs().size(), csv);
    return allCompleted ? QuarryCli.EXIT_COMPLETED : QuarryCli.EXIT_FAILED;
  }

  private void printSweepEnd(RunOutput output, String sweepId, List<String> sweptKeys, List<SweepReport.Row> rows,
      int total, Path csv) {
    printSweepEnd(out, output, sweepId, sweptKeys, rows, total, csv, display.sort);
  }

  static void printSweepEnd(PrintStream out, RunOutput output, String sweepId, List<String> sweptKeys,
      List<SweepReport.Row> rows, int total, Path csv, String sort) {
    long completed = rows.stream().filter(r -> r.result() != null && r.result().isCompleted()).count();
    if (output.mode() == RunOutput.Mode.JSON) {
      com.fasterxml.jackson.databind.node.ObjectNode node = RunOutput.object();
      node.put("type", "sweep_completed");
      node.put("sweep_id", sweepId);
      node.put("runs", total);
      node.put("completed", completed);
      node.put("summary_csv", csv == null ? null : csv.toString());
      out.println(node);
      return;
    }
    if (output.verbose()) out.println();
    SweepReport.printTable(out, SweepReport.sorted(rows, sort), sweptKeys);
    out.printf("sweep %s: %d of %d run(s) completed%s%n", sweepId, completed, total,
        csv == null ? "" : "; summary " + csv);
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

  private void printSummary(RunSummary summary) {
    List<RunReport.Hardest> hardest = new ArrayList<>();
    for (HardExample example : summary.hardest()) {
      hardest.add(new RunReport.Hardest(example.sampleId(), example.loss(), example.workerId(), example.step(),
          example.label(), example.predicted()));
    }
    RunReport.print(out, summary.runId(), summary.status().wireName(), summary.steps(), summary.wallMs(),
        summary.samplesPerSec(), summary.merges(), summary.droppedEvents(), summary.stepsRedone(), summary.reason(),
        summary.hardExamplesWarning(), summary.valAccuracy(), summary.valLoss(), hardest, summary.runDir());
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
