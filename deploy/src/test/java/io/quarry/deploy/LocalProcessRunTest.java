package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A local-mode run whose shards are trained by a program ({@code trainer = process}): a shell script here. */
@Timeout(120)
class LocalProcessRunTest {
  /**
   * Ten steps of two samples per shard, from the shard's first sample; sample first+7 of every shard is hard
   * (loss 50 + shard), the rest easy. One evaluation at the end.
   */
  private static final String TRAIN_SCRIPT = """
      i=0
      while [ $i -lt 10 ]; do
        a=$((QUARRY_FIRST_SAMPLE + 2 * i)); b=$((a + 1))
        la=0.1; lb=0.2
        if [ $((2 * i)) -eq 7 ]; then la="5$QUARRY_SHARD.0"; fi
        if [ $((2 * i + 1)) -eq 7 ]; then lb="5$QUARRY_SHARD.0"; fi
        echo "{\\"type\\":\\"step\\",\\"step\\":$i,\\"epoch\\":0,\\"loss\\":0.5,\\"lr\\":0.01,\\"sample_ids\\":[$a,$b],\\"losses\\":[$la,$lb]}"
        i=$((i + 1))
      done
      echo "progress: not a metric"
      echo '{"type":"eval","step":9,"epoch":0,"val_loss":0.4,"val_accuracy":0.8}'
      echo '{"type":"run_completed"}'
      """;

  @TempDir Path tmp;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  private RunSummary runToEnd(String runId, Path script, String... overrides) throws Exception {
    cluster = LocalCluster.start(2, tmp.resolve("runs"), ConfigFactory.parseResources("application-test.conf"));
    List<String> all = new ArrayList<>(List.of("trainer=process", "process.command=[\"/bin/sh\", \"" + script + "\"]",
        "process.samples=1000"));
    all.addAll(List.of(overrides));
    RunConfig config = RunConfig.fromOverrides(all, Map.of());
    SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
    return cluster.follow(runId, p -> {}).get(90, TimeUnit.SECONDS);
  }

  @Test
  void aProgramsStepsAndHardestSamplesReachTheRunDirectory() throws Exception {
    Path script = Files.writeString(tmp.resolve("train.sh"), TRAIN_SCRIPT);

    // The last merge is read below: a slow machine must not leave a worker out of it for answering after the
    // default 2 s (the run would still report the right hardest, kept from the merge before, but this record not).
    RunSummary summary = runToEnd("proc", script, "hard-examples.merge-timeout=30s");

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    RunFiles files = new RunFiles(tmp.resolve("runs/proc"));
    List<String> scalars = files.scalars();
    assertEquals(2 * 10 + 2, scalars.size() - 1, "one row per step and evaluation of both shards: " + scalars);
    assertEquals(2, files.events("shard_completed").size());

    // Shards of 500 samples: 0..499 and 500..999; each one's sample first+7 is its hardest.
    List<HardExample> hardest = summary.hardest();
    assertEquals(List.of(507L, 7L), hardest.subList(0, 2).stream().map(HardExample::sampleId).toList(), hardest.toString());
    assertEquals(51.0f, hardest.get(0).loss());
    List<JsonNode> merges = files.merges();
    JsonNode lastMerge = merges.get(merges.size() - 1);
    assertEquals(Set.of(7L, 507L), Set.of(lastMerge.get("entries").get(0).get("sample_id").asLong(),
        lastMerge.get("entries").get(1).get("sample_id").asLong()));
    assertTrue(Files.readString(files.dir.resolve("logs/0.log")).contains("unparsed_lines=1"));
  }

  /** A program that prints plain log lines, in mixed case, with '=', ':' and spaces, in scientific notation. */
  private static final String PLAIN_LOG_SCRIPT = """
      echo "Step 0 LOSS: 1.5e-1 lr=2E-3"
      echo "step=1, loss 1.25E-1, Lr: 1e-3"
      echo "just chatter"
      echo "Epoch: 0 Val_Loss=3.2E-01 val_accuracy 0.75"
      """;

  @Test
  void aPlainLogProgramsMetricsLandInScalarsCsv() throws Exception {
    Path script = Files.writeString(tmp.resolve("plain.sh"), PLAIN_LOG_SCRIPT);

    RunSummary summary = runToEnd("plain", script, "shards=1");

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    List<String> rows = new RunFiles(tmp.resolve("runs/plain")).scalars();
    assertTrue(rows.stream().anyMatch(r -> r.startsWith("0,0,") && r.contains(",train,0.15,0.002,")), rows.toString());
    assertTrue(rows.stream().anyMatch(r -> r.startsWith("1,0,") && r.contains(",train,0.125,0.001,")), rows.toString());
    assertTrue(rows.stream().anyMatch(r -> r.contains(",val,0.32,") && r.contains(",0.75,")), rows.toString());
  }

  @Test
  void aProgramExitingWithCode3IsRetriedThenTheRunFails() throws Exception {
    Path script = Files.writeString(tmp.resolve("fail.sh"), """
        if [ "$QUARRY_SHARD" = 1 ]; then echo "shard 1 cannot load its data" >&2; exit 3; fi
        echo '{"type":"step","step":0,"loss":1.0}'
        """);

    RunSummary summary = runToEnd("proc-fail", script, "max-attempts=2");

    assertEquals(RunState.FAILED, summary.status());
    assertTrue(summary.reason().contains("shard 1 failed 2 time(s)"), summary.reason());
    assertTrue(summary.reason().contains("exited with code 3"), summary.reason());
    assertTrue(summary.reason().contains("cannot load its data"), summary.reason());
    RunFiles files = new RunFiles(tmp.resolve("runs/proc-fail"));
    assertEquals(List.of(1, 2), files.events("shard_failed").stream().map(f -> f.get("attempt").asInt()).collect(Collectors.toList()));
    assertEquals(1, files.events("shard_retried").size());
    String log = Files.readString(files.dir.resolve("logs/1.log"));
    assertTrue(log.contains("shard 1 attempt 1") && log.contains("shard 1 attempt 2"), log);
  }
}
