package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.config.RunConfig;
import io.quarry.protocol.config.RunConfigException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code quarry submit | status | stop | runs}: clients of a coordinator's HTTP API. */
final class ClientCommands {
  private ClientCommands() {}

  /** Which coordinator to talk to. */
  static final class Target {
    @Option(names = "--coordinator", paramLabel = "URL",
        description = "the coordinator's HTTP API (env QUARRY_COORDINATOR, default " + ApiClient.DEFAULT_URL + ")")
    String url;

    ApiClient client() {
      return new ApiClient(ApiClient.url(url, System.getenv()));
    }
  }

  /** Runs a client call, mapping failures to the launcher's exit codes and one-line messages. */
  interface Call {
    int run() throws Exception;
  }

  static int guarded(String command, Call call) {
    try {
      return call.run();
    } catch (ApiClient.ApiException e) {
      System.err.println("quarry " + command + ": " + e.getMessage());
      return e.status >= 400 && e.status < 500 ? QuarryCli.EXIT_USAGE : QuarryCli.EXIT_FAILED;
    } catch (RunConfigException | IllegalArgumentException e) {
      System.err.println("quarry " + command + ": " + e.getMessage());
      return QuarryCli.EXIT_USAGE;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return QuarryCli.EXIT_FAILED;
    } catch (Exception e) {
      System.err.println("quarry " + command + ": " + e.getMessage());
      return QuarryCli.EXIT_FAILED;
    }
  }

  @Command(name = "submit", mixinStandardHelpOptions = true,
      description = {"Submits a run to a coordinator; with --wait, follows it to its end.",
          "Exit code 0 when it completed (or was accepted, without --wait), 1 when it failed or was stopped, 2 for bad"
              + " usage or config."})
  static final class Submit implements Callable<Integer> {
    @Mixin Target target;

    @Parameters(index = "0", paramLabel = "RUN.conf", description = "the run file (HOCON; `include` works)")
    Path runFile;

    @Parameters(index = "1..*", paramLabel = "KEY=VALUE", description = "overrides of the run file, e.g. epochs=3")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--run-id", paramLabel = "ID", description = "the run id (default: chosen by the coordinator)")
    String runId;

    @Option(names = "--wait", description = "follow the run with a progress line until it ends")
    boolean await;

    @Override
    public Integer call() {
      return guarded("submit", () -> {
        String config = resolvedRunFile(runFile);
        RunConfig validated = RunConfig.parse(config);
        for (String override : overrides) validated = validated.with(override);
        ApiClient api = target.client();
        JsonNode accepted = api.submit(config, overrides, runId);
        String id = accepted.get("run_id").asText();
        System.out.println("submitted run " + id + " (" + accepted.path("run_dir").asText() + ")");
        return await ? follow(api, id, System.out) : QuarryCli.EXIT_COMPLETED;
      });
    }
  }

  /** The run file with its includes resolved, as HOCON text; a missing or malformed file is a config error. */
  static String resolvedRunFile(Path file) {
    if (!Files.isRegularFile(file)) throw new RunConfigException("run file " + file + " does not exist");
    try {
      return ConfigFactory.parseFile(file.toFile()).resolve()
          .root().render(ConfigRenderOptions.defaults().setOriginComments(false).setJson(false));
    } catch (ConfigException e) {
      throw new RunConfigException("run file " + file + ": " + e.getMessage());
    }
  }

  /** Polls the run until it ends, with the progress line, then prints the summary; returns the exit code. */
  static int follow(ApiClient api, String runId, PrintStream out) throws Exception {
    ProgressLine progress = new ProgressLine(out, System.console() != null);
    while (true) {
      JsonNode run = api.run(runId);
      RunState state = RunState.valueOf(run.get("state").asText().toUpperCase(Locale.ROOT));
      long submitted = run.path("submitted_unix_ms").asLong();
      long finished = run.path("finished_unix_ms").asLong(0);
      long elapsedMs = (state.isFinal() && finished > 0 ? finished : System.currentTimeMillis()) - submitted;
      JsonNode loss = run.path("last_loss");
      progress.update(new RunUpdate.Progressed(runId, state, run.path("steps").asLong(),
          run.path("total_steps").asLong(), loss.isNumber() ? (float) loss.asDouble() : Float.NaN,
          run.path("samples_per_s").asDouble(), elapsedMs));
      if (state.isFinal()) {
        progress.finish();
        List<RunReport.Hardest> hardest = new ArrayList<>();
        for (JsonNode entry : run.path("hardest")) {
          hardest.add(new RunReport.Hardest(entry.path("sample_id").asLong(), (float) entry.path("loss").asDouble(),
              entry.path("worker_id").asText(), entry.path("step").asLong()));
        }
        long wallMs = finished - submitted;
        RunReport.print(out, runId, state.wireName(), run.path("steps").asLong(), wallMs,
            run.path("samples_per_s").asDouble(), run.path("merges").asInt(), run.path("dropped_events").asLong(),
            0, run.path("reason").isNull() ? "" : run.path("reason").asText(), hardest, run.path("run_dir").asText());
        return state == RunState.COMPLETED ? QuarryCli.EXIT_COMPLETED : QuarryCli.EXIT_FAILED;
      }
      Thread.sleep(500);
    }
  }

  @Command(name = "status", mixinStandardHelpOptions = true,
      description = "Shows one run (its shards and workers), or every run when no id is given.")
  static final class Status implements Callable<Integer> {
    @Mixin Target target;

    @Parameters(index = "0", arity = "0..1", paramLabel = "RUN_ID")
    String runId;

    @Override
    public Integer call() {
      return guarded("status", () -> {
        ApiClient api = target.client();
        if (runId == null) return printRuns(api.runs());
        JsonNode run = api.run(runId);
        System.out.printf("run %s: %s, %s/%s steps, last loss %s, %s merge(s)%s%n", runId, run.path("state").asText(),
            run.path("steps").asText(), run.path("total_steps").asText(), run.path("last_loss").asText("-"),
            run.path("merges").asText(), run.path("reason").isNull() ? "" : " (" + run.path("reason").asText() + ")");
        System.out.printf("  %-6s %-9s %-8s %-9s %-28s %s%n", "shard", "state", "attempt", "failures", "worker", "step");
        for (JsonNode shard : run.path("shards")) {
          System.out.printf("  %-6s %-9s %-8s %-9s %-28s %s/%s%n", shard.path("shard").asText(),
              shard.path("state").asText(), shard.path("attempt").asText(), shard.path("failures").asText(),
              shard.path("worker_id").isNull() ? "-" : shard.path("worker_id").asText(), shard.path("step").asText(),
              shard.path("total_steps").asText());
        }
        return QuarryCli.EXIT_COMPLETED;
      });
    }
  }

  @Command(name = "runs", mixinStandardHelpOptions = true, description = "Lists every run the coordinator knows.")
  static final class Runs implements Callable<Integer> {
    @Mixin Target target;

    @Override
    public Integer call() {
      return guarded("runs", () -> printRuns(target.client().runs()));
    }
  }

  static int printRuns(JsonNode runs) {
    System.out.printf("%-32s %-10s %-16s %s%n", "run", "state", "steps", "submitted");
    for (JsonNode run : runs.path("runs")) {
      System.out.printf("%-32s %-10s %-16s %s%n", run.path("run_id").asText(), run.path("state").asText(),
          run.path("steps").asText() + "/" + run.path("total_steps").asText(), run.path("submitted").asText());
    }
    return QuarryCli.EXIT_COMPLETED;
  }

  @Command(name = "stop", mixinStandardHelpOptions = true,
      description = "Stops a run: it goes STOPPING, then STOPPED once every running shard has stopped.")
  static final class Stop implements Callable<Integer> {
    @Mixin Target target;

    @Parameters(index = "0", paramLabel = "RUN_ID")
    String runId;

    @Option(names = "--reason", defaultValue = "stopped from the command line", description = "why, for the record")
    String reason;

    @Override
    public Integer call() {
      return guarded("stop", () -> {
        JsonNode answer = target.client().stop(runId, reason);
        System.out.println(answer.path("message").asText("run " + runId + " is stopping"));
        return QuarryCli.EXIT_COMPLETED;
      });
    }
  }
}
