package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.quarry.protocol.CoordinatorCommand.ResumeOutcome;
import io.quarry.protocol.CoordinatorCommand.ResumeReply;
import io.quarry.protocol.CoordinatorCommand.RunStatusReply;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code quarry resume RUN_ID [key=value ...]}: continues a STOPPED or FAILED run, as the same run, from each unfinished
 * shard's newest checkpoint. Against a coordinator (like {@code quarry submit}; {@code --wait} follows it), or in this
 * JVM over a runs directory ({@code --local}, like {@code quarry local}, which it then follows to its end).
 */
@Command(
    name = "resume",
    mixinStandardHelpOptions = true,
    description = {
      "Resumes a stopped or failed run as the same run: its unfinished shards continue from their newest checkpoints,"
          + " its events and totals carry on (a run_resumed event). Overrides may change only what is safe: epochs "
          + "(up), max-attempts, optimizer.lr, priority, name, checkpoint.every-steps, stragglers.*, speculative, "
          + "sync.timeout, telemetry.*, hard-examples.merge-interval/-timeout, plots.enabled, and a trainer's own "
          + "(stub: its pacing and faults).",
      "Exit code 0 when it completed (or resumed, without --wait), 1 when it failed or was stopped again, 2 when it "
          + "cannot be resumed (unknown, completed, still going) or an override is refused."
    })
final class ResumeCommand implements Callable<Integer> {
  @Mixin ClientCommands.Target target;

  @Parameters(index = "0", paramLabel = "RUN_ID", description = "the stopped or failed run")
  String runId;

  @Parameters(index = "1..*", paramLabel = "KEY=VALUE", description = "what to change, e.g. epochs=5 max-attempts=5")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--local", description = "resume in this JVM over --runs-dir (as quarry local), not on a coordinator; "
      + "implied by --runs-dir and --workers")
  boolean local;

  @Option(names = "--runs-dir", paramLabel = "DIR", description = "--local: the runs directory the run is in (default runs)")
  Path runsDir;

  @Option(names = "--workers", paramLabel = "N", description = "--local: workers (simulated devices), default 4")
  Integer workers;

  @Option(names = "--data-root", paramLabel = "DIR",
      description = "--local: a directory the workers may read data under, besides the working and runs directories")
  List<Path> dataRoots = new ArrayList<>();

  @Option(names = "--wait", description = "against a coordinator: follow the run with progress until it ends")
  boolean await;

  @Option(names = "--quiet", description = "print only the final summary line and errors")
  boolean quiet;

  @Option(names = "--json", description = "print progress and the end of the run as JSON lines")
  boolean json;

  @Override
  public Integer call() {
    if (quiet && json) {
      System.err.println("quarry resume: --quiet and --json cannot be combined");
      return QuarryCli.EXIT_USAGE;
    }
    RunOutput.Mode mode = RunOutput.mode(quiet, json, System.console() != null);
    return local || runsDir != null || workers != null ? local(mode) : remote(mode);
  }

  private int remote(RunOutput.Mode mode) {
    return ClientCommands.guarded("resume", () -> {
      ApiClient api = target.client();
      JsonNode answer = api.resume(runId, overrides);
      RunOutput output = new RunOutput(System.out, mode, 1);
      if (output.verbose()) System.out.println(answer.path("message").asText("run " + runId + " resumes"));
      if (!await) return QuarryCli.EXIT_COMPLETED;
      try (output) {
        RunResult result = ClientCommands.follow(api, runId, output, false);
        return result.isCompleted() ? QuarryCli.EXIT_COMPLETED : QuarryCli.EXIT_FAILED;
      }
    });
  }

  private int local(RunOutput.Mode mode) {
    Path runs = runsDir != null ? runsDir : Path.of("runs");
    int count = workers != null ? workers : 4;
    if (count < 1 || count > LocalCommand.MAX_WORKERS) {
      System.err.println("quarry resume: --workers: invalid value " + count + "; allowed: an integer from 1 to "
          + LocalCommand.MAX_WORKERS);
      return QuarryCli.EXIT_USAGE;
    }
    if (!Files.isRegularFile(runs.resolve("quarry.db"))) {
      System.err.println("quarry resume: no run store in " + runs.toAbsolutePath() + " (quarry.db); --runs-dir names "
          + "the directory quarry local wrote the run to");
      return QuarryCli.EXIT_USAGE;
    }
    Config config = ConfigFactory.empty().withValue("quarry.worker.data-roots", ConfigValueFactory.fromIterable(
        dataRoots.stream().map(root -> root.toAbsolutePath().normalize().toString()).toList()));
    RunOutput output = new RunOutput(System.out, mode, 1);
    try (LocalCluster cluster = LocalCluster.start(count, runs, config); output) {
      // A run whose JVM died while it trained is recovered as the cluster starts: it is followed, not resumed.
      RunStatusReply known = cluster.client().run(runId).toCompletableFuture().get(30, TimeUnit.SECONDS);
      if (known.status() == null || known.status().state().isFinal()) {
        ResumeReply reply = cluster.client().resume(runId, overrides).toCompletableFuture().get(90, TimeUnit.SECONDS);
        if (reply.outcome() != ResumeOutcome.RESUMED) {
          System.err.println("quarry resume: " + reply.message());
          return QuarryCli.EXIT_USAGE;
        }
        if (output.verbose()) System.out.println(reply.message());
      } else if (output.verbose()) {
        System.out.println("run " + runId + " was " + known.status().state().wireName() + " when its JVM ended; it "
            + "goes on from its checkpoints");
      }
      RunResult result = LocalCommand.follower(System.out, System.err).followRun(cluster, runId, output, false);
      return result.isCompleted() ? QuarryCli.EXIT_COMPLETED : QuarryCli.EXIT_FAILED;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return QuarryCli.EXIT_FAILED;
    } catch (Exception e) {
      System.err.println("quarry resume: " + e);
      return QuarryCli.EXIT_FAILED;
    }
  }
}
