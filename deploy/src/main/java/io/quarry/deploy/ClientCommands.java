package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunUpdate;
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

  /** Which coordinator to talk to, and with which token. */
  static final class Target {
    @Option(names = "--coordinator", paramLabel = "URL",
        description = "the coordinator's HTTP API (env QUARRY_COORDINATOR, default " + ApiClient.DEFAULT_URL + ")")
    String url;

    @Option(names = "--token", paramLabel = "TOKEN",
        description = "an API token (env QUARRY_TOKEN; default: the coordinator's token file <runs-dir>/api-token when "
            + "readable here, runs-dir from QUARRY_RUNS_DIR, default runs)")
    String token;

    @Option(names = "--trust-store", paramLabel = "FILE",
        description = "PKCS12 trust store for an https coordinator whose certificate the JVM does not trust "
            + "(env QUARRY_TRUST_STORE; password: env QUARRY_TRUST_STORE_PASSWORD)")
    Path trustStore;

    ApiClient client() {
      var env = System.getenv();
      Path trust = trustStore != null ? trustStore
          : env.get("QUARRY_TRUST_STORE") == null ? null : Path.of(env.get("QUARRY_TRUST_STORE"));
      javax.net.ssl.SSLContext tls = trust == null ? null
          : TlsFiles.client(trust, env.getOrDefault("QUARRY_TRUST_STORE_PASSWORD", "").toCharArray(), "--trust-store");
      return new ApiClient(ApiClient.url(url, env), ApiClient.token(token, env), tls);
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

    @Option(names = "--wait", description = "follow the run(s) with progress until they end")
    boolean await;

    @Option(names = "--init-from", paramLabel = "RUN_ID[:best|last]",
        description = "start every shard from another run's parameters (fine-tuning): its best checkpoint (the lowest "
            + "validation loss; the default) or its last; the same as init.from=RUN_ID:best")
    String initFrom;

    @picocli.CommandLine.Mixin OutputOptions display;

    @Override
    public Integer call() {
      return guarded("submit", () -> {
        display.check();
        if (initFrom != null) overrides.add(initFromOverride(initFrom));
        String config = resolvedRunFile(runFile);
        Sweep sweep = display.multirun ? Sweep.expand(overrides) : null;
        String sweepId = display.multirun ? (runId != null ? runId : Sweep.newId()) : null;
        List<String> ids = new ArrayList<>();
        List<List<String>> runOverrides = new ArrayList<>();
        if (sweep == null) {
          RunArgs.resolve(config, overrides, java.util.Map.of());
          ids.add(runId);
          runOverrides.add(overrides);
        } else {
          for (Sweep.Point point : sweep.points) {
            try {
              RunArgs.resolve(config, point.overrides(), java.util.Map.of());
            } catch (RunConfigException e) {
              throw RunArgs.inRun(point.runId(sweepId), point.sweptOverrides(), e);
            }
            ids.add(point.runId(sweepId));
            runOverrides.add(point.overrides());
          }
        }
        ApiClient api = target.client();
        RunOutput output = new RunOutput(System.out, display.mode(), ids.size());
        List<String> accepted = new ArrayList<>();
        String runDir = null;
        for (int i = 0; i < ids.size(); i++) {
          JsonNode answer = api.submit(config, runOverrides.get(i), ids.get(i));
          accepted.add(answer.get("run_id").asText());
          runDir = answer.path("run_dir").asText();
          if (output.verbose()) System.out.println("submitted run " + accepted.get(i) + " (" + runDir + ")");
          else if (output.mode() == RunOutput.Mode.JSON) {
            com.fasterxml.jackson.databind.node.ObjectNode node = RunOutput.object();
            node.put("type", "run_submitted");
            node.put("run_id", accepted.get(i));
            node.put("run_dir", runDir);
            output.json(node);
          }
        }
        if (!await) return QuarryCli.EXIT_COMPLETED;
        try (output) {
          if (sweep == null) {
            RunResult result = follow(api, accepted.get(0), output, false);
            return result.isCompleted() ? QuarryCli.EXIT_COMPLETED : QuarryCli.EXIT_FAILED;
          }
          List<SweepReport.Row> rows = new ArrayList<>();
          boolean allCompleted = true;
          for (int i = 0; i < accepted.size(); i++) {
            RunResult result = follow(api, accepted.get(i), output, true);
            rows.add(new SweepReport.Row(sweep.points.get(i), accepted.get(i), result));
            allCompleted &= result.isCompleted();
          }
          output.close();
          // Beside the runs directory when the coordinator's run directories are reachable here, else ./sweeps.
          Path runsDir = runDir == null || runDir.isEmpty() ? null : Path.of(runDir).getParent();
          Path sweepDir = runsDir != null && Files.isDirectory(runsDir)
              ? SweepReport.sweepDir(runsDir, sweepId) : Path.of("sweeps").resolve(sweepId);
          Path csv = SweepReport.writeCsv(sweepDir, rows, sweep.sweptKeys);
          LocalCommand.printSweepEnd(System.out, output, sweepId, sweep.sweptKeys, rows, rows.size(), csv, display.sort);
          return allCompleted ? QuarryCli.EXIT_COMPLETED : QuarryCli.EXIT_FAILED;
        }
      });
    }
  }

  /** {@code --init-from RUN_ID[:best|last]} as the override it stands for. */
  static String initFromOverride(String value) {
    String run = value.replace("\"", "").strip();
    return "init.from=\"" + (run.contains(":") ? run : run + ":best") + "\"";
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

  /** Polls the run until it ends, with progress, then prints its summary; returns how it ended. */
  static RunResult follow(ApiClient api, String runId, RunOutput output, boolean inSweep) throws Exception {
    PrintStream out = System.out;
    output.runStarted(runId);
    while (true) {
      JsonNode run = api.run(runId);
      RunState state = RunState.valueOf(run.get("state").asText().toUpperCase(Locale.ROOT));
      long submitted = run.path("submitted_unix_ms").asLong();
      long finished = run.path("finished_unix_ms").asLong(0);
      long elapsedMs = (state.isFinal() && finished > 0 ? finished : System.currentTimeMillis()) - submitted;
      JsonNode loss = run.path("last_loss");
      output.progress(new RunUpdate.Progressed(runId, state, run.path("steps").asLong(),
          run.path("total_steps").asLong(), loss.isNumber() ? (float) loss.asDouble() : Float.NaN,
          run.path("samples_per_s").asDouble(), elapsedMs));
      if (state.isFinal()) {
        long wallMs = finished - submitted;
        String reason = run.path("reason").isNull() ? "" : run.path("reason").asText();
        String runDir = run.path("run_dir").asText();
        // The run directory, when it is reachable from here (shared storage), has final_loss and val_accuracy.
        RunResult result = runDir.isEmpty() ? null : RunResult.fromRunDir(runId, Path.of(runDir));
        if (result == null) {
          com.fasterxml.jackson.databind.node.ObjectNode completed = RunOutput.object();
          completed.put("type", "run_completed");
          completed.put("run_id", runId);
          completed.put("status", state.wireName());
          completed.put("steps", run.path("steps").asLong());
          completed.put("total_steps", run.path("total_steps").asLong());
          completed.put("merges", run.path("merges").asInt());
          completed.put("dropped_events", run.path("dropped_events").asLong());
          completed.put("wall_ms", wallMs);
          if (loss.isNumber()) completed.put("final_loss", loss.asDouble());
          if (!reason.isEmpty()) completed.put("reason", reason);
          result = new RunResult(runId, state.wireName(), run.path("steps").asLong(), wallMs,
              loss.isNumber() ? loss.asDouble() : null, null, reason, runDir, completed);
        }
        output.runEnded(result);
        if (inSweep ? output.verbose() : output.mode() == RunOutput.Mode.QUIET) {
          RunReport.headline(out, runId, state.wireName(), run.path("steps").asLong(), wallMs,
              run.path("samples_per_s").asDouble(), run.path("merges").asInt(), run.path("dropped_events").asLong(),
              0, reason, run.path("hard_examples_warning").asText(""));
        } else if (output.verbose()) {
          List<RunReport.Hardest> hardest = new ArrayList<>();
          for (JsonNode entry : run.path("hardest")) {
            hardest.add(new RunReport.Hardest(entry.path("sample_id").asLong(), (float) entry.path("loss").asDouble(),
                entry.path("worker_id").asText(), entry.path("step").asLong(), classIndex(entry.path("label")),
                classIndex(entry.path("predicted"))));
          }
          RunReport.print(out, runId, state.wireName(), run.path("steps").asLong(), wallMs,
              run.path("samples_per_s").asDouble(), run.path("merges").asInt(), run.path("dropped_events").asLong(),
              0, reason, run.path("hard_examples_warning").asText(""), result.valAccuracy(), result.valLoss(), hardest,
              runDir);
        }
        return result;
      }
      Thread.sleep(500);
    }
  }

  /** A hard example's label or predicted class from the API: the number, or -1 for null (unknown). */
  private static int classIndex(JsonNode value) {
    return value.isIntegralNumber() ? value.asInt() : -1;
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
