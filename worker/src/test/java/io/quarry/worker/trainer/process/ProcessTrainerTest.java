package io.quarry.worker.trainer.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.TestTrainerContext;
import io.quarry.worker.trainer.TrainerRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The process trainer against small /bin/sh programs: no Python needed. */
@Timeout(60)
class ProcessTrainerTest {
  @TempDir Path tmp;

  private Path script(String body) throws Exception {
    Path script = tmp.resolve("train-" + System.nanoTime() + ".sh");
    Files.writeString(script, body);
    return script;
  }

  private Path checkpointDir(int shard, int attempt) throws Exception {
    return Files.createDirectories(tmp.resolve("runs/run-1/checkpoints/" + shard + "/attempt-" + attempt));
  }

  private RunConfig config(List<String> command, String... overrides) {
    List<String> all = new ArrayList<>();
    all.add("trainer=process");
    all.add("process.command=[" + String.join(",", command.stream().map(a -> "\"" + a + "\"").toList()) + "]");
    all.addAll(Arrays.asList(overrides));
    return RunConfig.fromOverrides(all, Map.of());
  }

  private RunConfig config(Path script, String... overrides) {
    return config(List.of("/bin/sh", script.toString()), overrides);
  }

  private TestTrainerContext context(RunConfig config, int shard, int attempt) throws Exception {
    return TestTrainerContext.forShard(config, shard, attempt, 0, 100, checkpointDir(shard, attempt), null);
  }

  private String log(int shard) throws Exception {
    return Files.readString(tmp.resolve("runs/run-1/logs/" + shard + ".log"));
  }

  /** What a program wrote to {@code file}, or a note that it wrote nothing there. */
  private static String written(Path file) throws Exception {
    return Files.exists(file) ? Files.readString(file) : "(nothing: " + file + " was never written)";
  }

  @Test
  void isFoundByName() {
    assertTrue(TrainerRegistry.load().get("process") instanceof ProcessTrainerFactory);
  }

  @Test
  void jsonLinesFeedTelemetryHardExamplesAndCheckpoints() throws Exception {
    Path script = script("""
        echo '{"type":"step","step":0,"epoch":0,"loss":2.5,"lr":0.1,"sample_ids":[4,5],"losses":[3.0,2.0]}'
        echo '{"type":"step","step":1,"epoch":0,"loss":1.5,"lr":0.1,"sample_ids":[6,7],"losses":[9.5,0.25]}'
        echo '{"type":"epoch","step":1,"epoch":0,"mean_loss":2.0}'
        echo '{"type":"eval","step":1,"epoch":0,"val_loss":1.25,"val_accuracy":0.5}'
        echo '{"type":"checkpoint","step":2,"path":"step-2"}'
        echo '{"type":"checkpoint","step":2,"path":"/elsewhere/ckpt"}'
        echo '{"type":"step","step":2,"epoch":1,"loss":1.0}'
        echo '{"type":"run_completed"}'
        """);
    TestTrainerContext context = context(config(script), 0, 1);

    ShardResult result = new ProcessTrainer(context.config()).train(context);

    assertEquals(new ShardResult(3, 3, 4, 1.0f, false), result);
    assertEquals(List.of(new TestTrainerContext.StepEvent(0, 0, 2.5f, 0.1f, 0f), new TestTrainerContext.StepEvent(1, 0, 1.5f, 0.1f,
        context.steps().get(1).samplesPerSec()), new TestTrainerContext.StepEvent(2, 1, 1.0f, 0.1f, 0f)), context.steps());
    assertEquals(2, context.offers().size());
    assertEquals(1, context.offers().get(1).step());
    assertTrue(Arrays.equals(new long[] {6, 7}, context.offers().get(1).sampleIds()));
    assertTrue(Arrays.equals(new float[] {9.5f, 0.25f}, context.offers().get(1).losses()));
    assertEquals(List.of(new TestTrainerContext.EpochEvent(1, 0, 2.0f)), context.epochs());
    assertEquals(List.of(new TestTrainerContext.EvalEvent(1, 0, 1.25f, 0.5f)), context.evals());
    assertEquals(List.of(new TestTrainerContext.Checkpoint(2, context.checkpointDir().resolve("step-2")),
        new TestTrainerContext.Checkpoint(2, Path.of("/elsewhere/ckpt"))), context.checkpoints());
    assertTrue(log(0).contains("unparsed_lines=0"), log(0));
  }

  @Test
  void plainLogMetricsBecomeStepsAndEvaluations() throws Exception {
    Path script = script("""
        echo 'starting up'
        echo 'Epoch 1 step=10 Loss: 2.5e-1 LR 1E-4'
        echo 'step: 11 loss=-0.5'
        echo 'STEP 12 loss 3.2E+01 grad_norm=0.7'
        echo 'Loss 0.5'
        echo 'val_loss: 0.125 val_accuracy=0.9'
        echo 'grad_norm=0.3'
        """);
    TestTrainerContext context = context(config(script, "process.metrics=[grad_norm]"), 0, 1);

    ShardResult result = new ProcessTrainer(context.config()).train(context);

    assertEquals(List.of(10L, 11L, 12L, 12L), context.steps().stream().map(TestTrainerContext.StepEvent::step).toList(),
        "a loss without a step is reported at the last step seen");
    assertEquals(List.of(0.25f, -0.5f, 32.0f, 0.5f), context.steps().stream().map(TestTrainerContext.StepEvent::loss).toList());
    assertTrue(context.steps().stream().allMatch(s -> s.epoch() == 1 && s.lr() == 1e-4f), context.steps().toString());
    assertEquals(List.of(new TestTrainerContext.EvalEvent(12, 1, 0.125f, 0.9f)), context.evals());
    assertEquals(13, result.endStep());
    assertEquals(4, result.stepsTrained());
    assertTrue(log(0).contains("unparsed_lines=1"), "only 'starting up' is not understood: " + log(0));
  }

  @Test
  void garbageLinesAreCountedAndTheShardStillCompletes() throws Exception {
    Path script = script("""
        echo '{not json'
        echo '{"type":"mystery","step":1}'
        echo '{"type":"step","step":0,"loss":1.0,"sample_ids":[1,2],"losses":[1.0]}'
        echo 'hello world'
        echo '{"type":"step","step":0,"loss":1.0}'
        """);
    TestTrainerContext context = context(config(script), 2, 1);

    ShardResult result = new ProcessTrainer(context.config()).train(context);

    assertFalse(result.stopped());
    assertEquals(1, result.stepsTrained());
    assertTrue(context.offers().isEmpty(), "a step whose sample_ids and losses differ in length is refused whole");
    assertTrue(log(2).contains("=== exited with code 0: steps 1, last step 0, unparsed_lines=4 ==="), log(2));
  }

  @Test
  void nonZeroExitFailsNamingTheCommandTheCodeAndTheLastStderr() throws Exception {
    Path script = script("""
        echo '{"type":"step","step":0,"loss":1.0}'
        echo 'CUDA out of memory' >&2
        exit 3
        """);
    TestTrainerContext context = context(config(script), 1, 1);

    ProcessTrainerException e = assertThrows(ProcessTrainerException.class, () -> new ProcessTrainer(context.config()).train(context));

    assertTrue(e.getMessage().contains("exited with code 3"), e.getMessage());
    assertTrue(e.getMessage().contains(script.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("CUDA out of memory"), e.getMessage());
    assertTrue(log(1).contains("CUDA out of memory"), log(1));
  }

  @Test
  void stderrIsAppendedAcrossAttemptsWithAHeaderEach() throws Exception {
    Path script = script("echo \"attempt $QUARRY_ATTEMPT speaking\" >&2\n");
    for (int attempt = 1; attempt <= 2; attempt++) {
      TestTrainerContext context = context(config(script), 0, attempt);
      new ProcessTrainer(context.config()).train(context);
    }

    String log = log(0);
    assertTrue(log.contains("shard 0 attempt 1 of run test-run") && log.contains("shard 0 attempt 2 of run test-run"), log);
    assertTrue(log.indexOf("attempt 1 speaking") < log.indexOf("attempt 2 speaking"), log);
  }

  @Test
  void aProgramThatCannotStartFailsTheAttempt() throws Exception {
    TestTrainerContext context = context(config(List.of(tmp.resolve("no-such-program").toString())), 0, 1);

    ProcessTrainerException e = assertThrows(ProcessTrainerException.class, () -> new ProcessTrainer(context.config()).train(context));

    assertTrue(e.getMessage().contains("cannot start process.command"), e.getMessage());
  }

  @Test
  void aSilentProgramIsKilledAtTheHangTimeout() throws Exception {
    Path script = script("""
        echo '{"type":"step","step":0,"loss":1.0}'
        sleep 30
        """);
    TestTrainerContext context = context(config(script, "process.hang-timeout=1s", "process.grace=1s"), 0, 1);
    long startNs = System.nanoTime();

    ProcessTrainerException e = assertThrows(ProcessTrainerException.class, () -> new ProcessTrainer(context.config()).train(context));

    assertTrue(e.getMessage().contains("no output for 1s"), e.getMessage());
    assertTrue(System.nanoTime() - startNs < 20_000_000_000L, "killed long before the program's own 30 s");
  }

  /** A program that prints a step every 50 ms until SIGTERM, on which it writes its step to {@code marker}, exits 42. */
  private Path stepsUntilSigterm(Path marker) throws Exception {
    return script("""
        trap 'echo "SIGTERM at step $i" > %s; exit 42' TERM
        i=0
        while true; do echo "{\\"type\\":\\"step\\",\\"step\\":$i,\\"loss\\":1.0}"; i=$((i+1)); sleep 0.05; done
        """.formatted(marker));
  }

  @Test
  void stopEndsARunningProgramWithinTheGrace() throws Exception {
    Path marker = tmp.resolve("sigterm.txt");
    Path script = stepsUntilSigterm(marker);
    // A grace no slow machine reaches: the log says whether SIGKILL was needed, and it must not have been.
    TestTrainerContext context = context(config(script, "process.grace=30s"), 0, 1);
    context.onStep(step -> {
      if (step.step() == 3) context.requestStop();
    });

    ShardResult result = new ProcessTrainer(context.config()).train(context);

    assertTrue(result.stopped());
    assertTrue(result.stepsTrained() >= 4, result.toString());
    assertTrue(log(0).contains("=== stopped by SIGTERM (exit code 42): "),
        "the program ended by its handler's exit, with no SIGKILL: " + log(0));
    assertTrue(written(marker).startsWith("SIGTERM at step "), "the program's SIGTERM handler ran: " + written(marker));
  }

  @Test
  void aFailureHandlingALineFailsTheAttemptAndStopsTheProgram() throws Exception {
    Path marker = tmp.resolve("sigterm.txt");
    Path script = stepsUntilSigterm(marker);
    TestTrainerContext context = context(config(script, "process.grace=30s"), 0, 1);
    // Lines are handled on the stdout reader's thread: what goes wrong there still reaches the training thread.
    context.onStep(step -> {
      if (step.step() == 2) throw new IllegalStateException("a bug in handling step 2");
    });

    ProcessTrainerException e = assertThrows(ProcessTrainerException.class, () -> new ProcessTrainer(context.config()).train(context));

    assertTrue(e.getMessage().contains("handling the output of") && e.getMessage().contains("a bug in handling step 2"),
        e.getMessage());
    assertTrue(written(marker).startsWith("SIGTERM at step "), "the program was stopped, not left running: " + written(marker));
  }

  @Test
  void aProgramIgnoringSigtermIsKilledAfterTheGrace() throws Exception {
    Path marker = tmp.resolve("sigterm.txt");
    Path script = script("""
        trap 'echo SIGTERM >> %s' TERM
        echo '{"type":"step","step":0,"loss":1.0}'
        while true; do sleep 0.05; done
        """.formatted(marker));
    TestTrainerContext context = context(config(script, "process.grace=2s"), 0, 1);
    context.onStep(step -> context.requestStop());
    long startNs = System.nanoTime();

    ShardResult result = new ProcessTrainer(context.config()).train(context);

    assertTrue(result.stopped());
    assertTrue(log(0).contains("=== stopped by SIGTERM, then SIGKILL after process.grace 2s (exit code 137): "),
        "137 = 128 + SIGKILL: " + log(0));
    assertTrue(written(marker).startsWith("SIGTERM\n"), "SIGTERM came first, and the program carried on: " + written(marker));
    long elapsedMs = (System.nanoTime() - startNs) / 1_000_000;
    assertTrue(elapsedMs >= 2_000, "SIGKILL waited for the grace; took " + elapsedMs + " ms");
  }

  @Test
  void whatAProgramPrintsOnSigtermIsStillRead() throws Exception {
    // Its stdout and stderr stay open after SIGTERM (no SIGPIPE), and its lines are read to the end: more than the
    // reader's queue holds, so the checkpoint after them arrives after the program has already exited.
    Path script = script("""
        on_term() {
          echo "saving at step $i" >&2
          seq 1 2000 | sed 's/^/flushing buffer /'
          echo "{\\"type\\":\\"checkpoint\\",\\"step\\":$i,\\"path\\":\\"step-$i\\"}"
          exit 0
        }
        trap on_term TERM
        i=0
        while true; do echo "{\\"type\\":\\"step\\",\\"step\\":$i,\\"loss\\":1.0}"; i=$((i+1)); sleep 0.05; done
        """);
    TestTrainerContext context = context(config(script, "process.grace=30s"), 0, 1);
    context.onStep(step -> {
      if (step.step() == 2) context.requestStop();
    });

    ShardResult result = new ProcessTrainer(context.config()).train(context);

    assertTrue(result.stopped());
    assertTrue(log(0).contains("=== stopped by SIGTERM (exit code 0): "),
        "writing to stderr and stdout after SIGTERM did not kill the program (SIGPIPE would be exit code 141): " + log(0));
    assertEquals(1, context.checkpoints().size(), "the checkpoint reported on SIGTERM: " + context.checkpoints());
    TestTrainerContext.Checkpoint checkpoint = context.checkpoints().get(0);
    assertEquals(context.checkpointDir().resolve("step-" + checkpoint.step()), checkpoint.path());
  }

  @Test
  void environmentPlaceholdersAndWorkdirArrive() throws Exception {
    Path workdir = Files.createDirectories(tmp.resolve("wd"));
    Path out = tmp.resolve("seen.txt");
    Path script = script("""
        echo "args: $*" > %s
        echo "pwd: $(pwd)" >> %s
        env | grep '^QUARRY_' | sort >> %s
        """.formatted(out, out, out));
    RunConfig config = config(List.of("/bin/sh", script.toString(), "{shard}", "{shards}", "{attempt}", "{run_id}", "{device}",
        "--ckpt={checkpoint_dir}", "[{resume_from}]", "{first_sample}", "{sample_count}", "{unknown}",
        "--lr={lr}", "{epochs}x{batch_size}", "seed={seed}"),
        "process.workdir=\"" + workdir + "\"", "telemetry.enabled=false", "optimizer.lr=0.05", "epochs=2",
        "batch-size=16", "seed=9");
    Path checkpointDir = checkpointDir(1, 2);
    Path resume = checkpointDir.resolveSibling("attempt-1").resolve("step-40");
    TestTrainerContext context = new TestTrainerContext(config,
        new ShardAssignment(1, 4, 2, 100, 50, checkpointDir.toString(), resume.toString(), 40), checkpointDir, resume);

    new ProcessTrainer(config).train(context);

    String seen = Files.readString(out);
    assertTrue(seen.contains("args: 1 4 2 test-run cpu --ckpt=" + checkpointDir + " [" + resume + "] 100 50 {unknown}"
        + " --lr=0.05 2x16 seed=9"), seen);
    assertTrue(seen.contains("pwd: " + workdir.toRealPath()), seen);
    for (String variable : List.of("QUARRY_RUN_ID=test-run", "QUARRY_SHARD=1", "QUARRY_SHARDS=4", "QUARRY_ATTEMPT=2",
        "QUARRY_DEVICE=cpu", "QUARRY_CHECKPOINT_DIR=" + checkpointDir, "QUARRY_RESUME_FROM=" + resume,
        "QUARRY_FIRST_SAMPLE=100", "QUARRY_SAMPLE_COUNT=50", "QUARRY_DISABLE_TELEMETRY=true", "QUARRY_LR=0.05",
        "QUARRY_EPOCHS=2", "QUARRY_BATCH_SIZE=16", "QUARRY_SEED=9")) {
      assertTrue(seen.contains(variable + "\n"), variable + " in:\n" + seen);
    }
  }

  @Test
  void resumeFromIsEmptyWhenThereIsNone() throws Exception {
    Path out = tmp.resolve("resume.txt");
    Path script = script("echo \"[$1] [$QUARRY_RESUME_FROM] [$QUARRY_DISABLE_TELEMETRY]\" > " + out + "\n");
    TestTrainerContext context = context(config(List.of("/bin/sh", script.toString(), "{resume_from}")), 0, 1);

    new ProcessTrainer(context.config()).train(context);

    assertEquals("[] [] [false]\n", Files.readString(out));
  }
}
