package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code process.distributed = torch} in local mode with two workers and real PyTorch (Debian's {@code python3-torch},
 * which the test command's set-up installs): DistributedDataParallel over Gloo on 127.0.0.1, started by Quarry with
 * torchrun's environment, restarted from rank 0's checkpoint when a rank is killed.
 */
@Timeout(600)
class DdpRunTest {
  /** The tests run in deploy/. */
  private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
  private static final Path DDP_TRAIN = REPO.resolve("examples/pytorch/ddp_train.py");
  private static final Pattern CHECKSUM = Pattern.compile("param_checksum rank=(\\d+) sum=(\\S+) abs=(\\S+) steps=(\\d+)");

  /** A script written for torchrun that reads nothing of Quarry's: its group from env://, one all-reduce. */
  private static final String TORCHRUN_ONLY = """
      import os, sys, time
      import torch
      import torch.distributed as dist
      def note(what):  # with a file to note in (argv[2]): when this rank's program started and ended, by the clock
          if len(sys.argv) > 2:
              with open(sys.argv[2], "a") as f:
                  f.write("%s %s %s %.6f\\n" % (os.environ["TORCHELASTIC_RUN_ID"], os.environ["RANK"], what, time.time()))
      note("start")
      dist.init_process_group("gloo")
      value = torch.tensor([float(os.environ["RANK"]) + 1.0])
      dist.all_reduce(value)
      names = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE", "ROLE_RANK",
               "ROLE_WORLD_SIZE", "ROLE_NAME", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT",
               "TORCHELASTIC_MAX_RESTARTS", "TORCHELASTIC_RUN_ID", "TORCHELASTIC_USE_AGENT_STORE"]
      print("torchrun_env " + " ".join("%s=%s" % (n, os.environ.get(n)) for n in names), file=sys.stderr, flush=True)
      print("allreduce_sum=%g" % value.item(), file=sys.stderr, flush=True)
      time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
      dist.barrier()
      dist.destroy_process_group()
      note("end")
      """;

  /**
   * One rank with batch 2B, as the reference: each step's batch is the union of the two ranks' batches of ddp_train.py
   * (its own functions build the data, the model and the batches), plain SGD on the mean loss over it.
   */
  private static final String ONE_RANK_DOUBLE_BATCH = """
      import sys
      sys.path.insert(0, sys.argv[1])
      import torch
      import torch.nn.functional as F
      import ddp_train as d
      samples, batch, steps, lr, seed = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), 42
      slices = [d.shard_of(r, 2, samples) for r in range(2)]
      data = [d.make_data(first, count, seed) for first, count in slices]
      model = d.make_model(seed, 128)
      optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
      per_epoch = d.steps_per_epoch(2, samples, batch)
      for step in range(steps):
          epoch, cursor = divmod(step, per_epoch)
          images, targets = [], []
          for r in range(2):
              positions = d.batch_positions(r, epoch, cursor, slices[r][1], batch, seed)
              images.append(data[r][1][positions])
              targets.append(data[r][2][positions])
          loss = F.cross_entropy(model(torch.cat(images)), torch.cat(targets))
          optimizer.zero_grad()
          loss.backward()
          optimizer.step()
      total, absolute = d.checksum(model)
      print("param_checksum rank=0 sum=%.12e abs=%.12e steps=%d" % (total, absolute, steps))
      """;

  @TempDir Path tmp;
  private LocalCluster cluster;
  private String python;

  @BeforeEach
  void findPython() {
    python = ExamplesTest.torchPythonFirst("").startsWith("/usr/bin:") ? "/usr/bin/python3" : "python3";
  }

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  private void startCluster() {
    cluster = LocalCluster.start(2, tmp.resolve("runs"), ConfigFactory.parseResources("application-test.conf"));
  }

  private CompletableFuture<RunSummary> submit(String runId, List<String> command, String... overrides)
      throws Exception {
    List<String> all = new ArrayList<>(List.of("trainer=process", "process.distributed=torch", "process.ranks=2",
        "process.command=[" + String.join(",", command.stream().map(a -> "\"" + a + "\"").toList()) + "]",
        "process.grace=3s", "hard-examples.merge-interval=1s"));
    all.addAll(List.of(overrides));
    RunConfig config = RunConfig.fromOverrides(all, Map.of());
    SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
    return cluster.follow(runId, p -> {});
  }

  private List<String> ddpTrain(int samples, int batch, int epochs, String... more) {
    List<String> command = new ArrayList<>(List.of(python, DDP_TRAIN.toString(), "--samples", "" + samples,
        "--batch-size", "" + batch, "--epochs", "" + epochs, "--lr", "0.05", "--seed", "42"));
    command.addAll(List.of(more));
    return command;
  }

  private RunFiles files(String runId) {
    return new RunFiles(tmp.resolve("runs").resolve(runId));
  }

  /** The last checksum each rank printed, by rank: {sum, abs, steps}. */
  private static Map<Integer, double[]> checksums(RunFiles run) throws IOException {
    Map<Integer, double[]> byRank = new java.util.TreeMap<>();
    for (int shard = 0; shard < 2; shard++) {
      Matcher matcher = CHECKSUM.matcher(Files.readString(run.dir.resolve("logs/" + shard + ".log")));
      while (matcher.find()) {
        byRank.put(Integer.parseInt(matcher.group(1)), new double[] {Double.parseDouble(matcher.group(2)),
            Double.parseDouble(matcher.group(3)), Double.parseDouble(matcher.group(4))});
      }
    }
    return byRank;
  }

  @Test
  void twoRanksTrainAsOneGroupToIdenticalParametersAndMineHardExamplesOfBoth() throws Exception {
    startCluster();

    RunSummary summary = submit("ddp", ddpTrain(2000, 32, 1), "process.samples=2000", "hard-examples.k=32")
        .get(300, TimeUnit.SECONDS);

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    RunFiles run = files("ddp");
    Map<Integer, double[]> sums = checksums(run);
    assertEquals(2, sums.size(), "both ranks print their checksum: " + sums.keySet());
    assertEquals(sums.get(0)[0], sums.get(1)[0], "DDP keeps the ranks' parameters identical (sum)");
    assertEquals(sums.get(0)[1], sums.get(1)[1], "DDP keeps the ranks' parameters identical (abs)");
    assertEquals(32, sums.get(0)[2], "1000 samples per rank in batches of 32");
    assertEquals(1, run.events("group_started").size());
    JsonNode started = run.events("group_started").get(0);
    assertEquals("127.0.0.1", started.path("master_addr").asText(), started.toString());
    assertTrue(started.path("master_port").asInt() > 0, started.toString());
    java.util.Set<String> workers = new java.util.TreeSet<>();
    for (JsonNode merge : run.merges()) {
      for (JsonNode entry : merge.path("entries")) workers.add(entry.path("worker_id").asText());
    }
    assertEquals(java.util.Set.of("local-0", "local-1"), workers, "per-sample losses of both ranks reach the merges");
    assertFalse(run.events("checkpoint").isEmpty(), "rank 0 checkpoints");
  }

  @Test
  void twoRanksOfBatchBEqualOneRankOfBatchTwoB() throws Exception {
    startCluster();
    int samples = 512;
    int batch = 16;

    RunSummary summary = submit("equal", ddpTrain(samples, batch, 1, "--momentum", "0"), "process.samples=" + samples)
        .get(300, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    double[] ddp = checksums(files("equal")).get(0);
    Path reference = Files.writeString(tmp.resolve("one_rank.py"), ONE_RANK_DOUBLE_BATCH);
    Process process = new ProcessBuilder(python, reference.toString(), DDP_TRAIN.getParent().toString(), "" + samples,
        "" + batch, "" + (long) ddp[2], "0.05").redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(process.waitFor(120, TimeUnit.SECONDS), output);
    assertEquals(0, process.exitValue(), output);
    Matcher matcher = CHECKSUM.matcher(output);
    assertTrue(matcher.find(), output);

    assertEquals(16, (long) ddp[2], "256 samples per rank in batches of 16");
    double oneSum = Double.parseDouble(matcher.group(2));
    double oneAbs = Double.parseDouble(matcher.group(3));
    assertEquals(oneAbs, ddp[1], 1e-5 * Math.abs(oneAbs), "sum of |parameters|: 2 ranks x 16 vs 1 rank x 32");
    assertEquals(oneSum, ddp[0], 1e-3, "sum of parameters: 2 ranks x 16 vs 1 rank x 32");
  }

  @Test
  @Timeout(300)
  void aKilledRankStopsItsGroupWhichRestartsFromRankZerosCheckpointAndCompletes() throws Exception {
    startCluster();
    int every = 10;
    // 1000 samples per rank in batches of 25, 2 epochs: 80 steps, a tenth of a second each; checkpoints every 10. The
    // process group's collectives would wait 30 minutes (torch's default) for a dead peer: the test's bound is far
    // below that, so the group can only finish by being stopped and restarted.
    CompletableFuture<RunSummary> done = submit("kill", ddpTrain(2000, 25, 2, "--step-delay", "0.1",
        "--checkpoint-every", "" + every), "process.samples=2000", "max-attempts=3");
    RunFiles run = files("kill");
    awaitCheckpoint(run, 2 * every, done);
    ProcessHandle rank1 = rankProcess(1).orElseThrow(() -> new AssertionError("no process of rank 1"));

    rank1.destroyForcibly(); // SIGKILL
    RunSummary summary = done.get(240, TimeUnit.SECONDS);

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    List<JsonNode> restarts = run.events("group_restarted");
    assertEquals(1, restarts.size(), restarts.toString());
    JsonNode restart = restarts.get(0);
    assertTrue(restart.path("cause").asText().contains("rank 1"), restart.toString());
    assertEquals(1, restart.path("restart_count").asInt());
    long resumeStep = restart.path("resume_step").asLong();
    assertTrue(resumeStep >= 2 * every && resumeStep % every == 0, "from a checkpoint of rank 0: " + restart);
    assertTrue(restart.path("steps_lost").asLong() <= every, "at most one checkpoint interval lost: " + restart);
    List<JsonNode> groups = run.events("group_started");
    assertEquals(2, groups.size());
    assertEquals(resumeStep, groups.get(1).path("start_step").asLong());
    // Rank 0's first attempt ended (failed on the dead peer or stopped by Quarry) before the group started again.
    long restartedNs = groups.get(1).path("ts_unix_ns").asLong();
    assertTrue(run.events().stream().anyMatch(e -> e.path("shard").asInt(-1) == 0 && e.path("attempt").asInt() == 1
        && List.of("shard_failed", "shard_stopped").contains(e.path("type").asText())
        && e.path("ts_unix_ns").asLong() < restartedNs), "rank 0's first attempt ended before the restart");
    JsonNode completed = run.runCompleted();
    assertTrue(completed.path("steps_redone").asLong() <= 2L * every,
        "each of the 2 ranks redid at most one checkpoint interval: " + completed);
    assertEquals(1, completed.path("counters").path("group_restarts").asLong(), completed.toString());
    Map<Integer, double[]> sums = checksums(run);
    assertEquals(sums.get(0)[0], sums.get(1)[0], "the restarted ranks end identical");
    assertEquals(80, (long) sums.get(0)[2]);
    String log1 = Files.readString(run.dir.resolve("logs/1.log"));
    assertTrue(log1.contains("resumed from") && log1.contains("step-" + resumeStep), "rank 1 resumed from rank 0's "
        + "checkpoint: " + log1);
  }

  @Test
  void twoGangRunsThatEachNeedBothWorkersRunOneAfterTheOther() throws Exception {
    startCluster();
    Path script = Files.writeString(tmp.resolve("torchrun_only.py"), TORCHRUN_ONLY);

    Path notes = tmp.resolve("notes.txt");
    // Each rank holds its program for a second after its all-reduce, so two groups that overlapped would show it.
    CompletableFuture<RunSummary> first = submit("gang-a", List.of(python, script.toString(), "1", notes.toString()));
    CompletableFuture<RunSummary> second = submit("gang-b", List.of(python, script.toString(), "1", notes.toString()));

    assertEquals(RunState.COMPLETED, first.get(300, TimeUnit.SECONDS).status());
    assertEquals(RunState.COMPLETED, second.get(300, TimeUnit.SECONDS).status());
    // The programs' own notes (one clock, this machine's): every rank of the later run started after every rank of
    // the earlier one had ended, so neither run ever held a worker the other's ranks needed.
    Map<String, double[]> spans = new java.util.TreeMap<>(); // run -> {first start, last end}
    for (String line : Files.readAllLines(notes)) {
      String[] words = line.split(" ");
      double[] span = spans.computeIfAbsent(words[0], run -> new double[] {Double.MAX_VALUE, 0});
      double at = Double.parseDouble(words[3]);
      if (words[2].equals("start")) span[0] = Math.min(span[0], at);
      else span[1] = Math.max(span[1], at);
    }
    assertEquals(8, Files.readAllLines(notes).size(), "2 runs x 2 ranks x start and end: " + Files.readAllLines(notes));
    double[] a = spans.get("gang-a");
    double[] b = spans.get("gang-b");
    double[] earlier = a[0] < b[0] ? a : b;
    double[] later = earlier == a ? b : a;
    assertTrue(later[0] > earlier[1], "the later run's ranks started after the earlier run's had ended: "
        + Files.readAllLines(notes));
    for (RunFiles run : List.of(files("gang-a"), files("gang-b"))) {
      assertEquals(2, run.events("shard_assigned").size(), "all ranks at once, never half: " + run.events());
      assertEquals(0, run.events("group_restarted").size());
    }
  }

  @Test
  void aScriptThatReadsOnlyTorchrunsVariablesRunsUnchanged() throws Exception {
    startCluster();
    Path script = Files.writeString(tmp.resolve("torchrun_only.py"), TORCHRUN_ONLY);

    RunSummary summary = submit("plain", List.of(python, script.toString()), "max-attempts=2")
        .get(300, TimeUnit.SECONDS);

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    RunFiles run = files("plain");
    int masterPort = run.events("group_started").get(0).path("master_port").asInt();
    for (int rank = 0; rank < 2; rank++) {
      String log = Files.readString(run.dir.resolve("logs/" + rank + ".log"));
      assertTrue(log.contains("allreduce_sum=3"), "the all-reduce of 1 + 2 across the group: " + log);
      for (String expected : List.of("RANK=" + rank, "LOCAL_RANK=" + rank, "WORLD_SIZE=2", "LOCAL_WORLD_SIZE=2",
          "GROUP_RANK=0", "GROUP_WORLD_SIZE=1", "ROLE_RANK=" + rank, "ROLE_WORLD_SIZE=2", "ROLE_NAME=default",
          "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + masterPort, "TORCHELASTIC_RESTART_COUNT=0",
          "TORCHELASTIC_MAX_RESTARTS=1", "TORCHELASTIC_RUN_ID=plain", "TORCHELASTIC_USE_AGENT_STORE=False")) {
        assertTrue(log.contains(" " + expected + " ") || log.contains(" " + expected + "\n"), expected + " in " + log);
      }
    }
  }

  /** Waits until rank 0 has reported a checkpoint at {@code step} or later (bounded by the run's end). */
  private static void awaitCheckpoint(RunFiles run, long step, CompletableFuture<RunSummary> done) throws Exception {
    while (!done.isDone()) {
      if (Files.exists(run.dir.resolve("events.jsonl"))
          && run.events("checkpoint").stream().anyMatch(e -> e.path("step").asLong() >= step)) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the run ended before rank 0's checkpoint at step " + step + ": " + done.get());
  }

  /** The program of rank {@code rank}: a process of this JVM's whose environment says RANK=rank. */
  private static Optional<ProcessHandle> rankProcess(int rank) {
    return ProcessHandle.current().descendants()
        .filter(p -> p.info().commandLine().orElse("").contains("ddp_train.py"))
        .filter(p -> environ(p).contains("\0RANK=" + rank + "\0"))
        .findFirst();
  }

  private static String environ(ProcessHandle process) {
    try {
      return "\0" + new String(Files.readAllBytes(Path.of("/proc/" + process.pid() + "/environ")), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }
}
