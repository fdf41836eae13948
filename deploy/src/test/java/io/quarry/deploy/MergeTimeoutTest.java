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
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(120)
class MergeTimeoutTest {
  private static List<String> texts(JsonNode array) {
    List<String> texts = new java.util.ArrayList<>();
    array.forEach(node -> texts.add(node.asText()));
    return texts;
  }

  @TempDir Path runsDir;

  @Test
  void aWorkerThatDoesNotAnswerIsLeftOutOfTheMergeAndNamed() throws Exception {
    try (LocalCluster cluster = LocalCluster.start(1, runsDir, ConfigFactory.parseResources("application-test.conf"))) {
      cluster.system().systemActorOf(SilentWorker.create("silent"), "silent", Props.empty());
      cluster.client().awaitWorkers(2, Duration.ofSeconds(30));
      String hocon = RunConfig.fromOverrides(List.of("stub.samples=2000", "stub.step-time=2ms", "epochs=2",
          "hard-examples.merge-interval=200ms", "hard-examples.merge-timeout=1s", "hard-examples.window=run"), Map.of())
          .toHocon();
      SubmitReply reply = cluster.submit(new RunSpec("silent-run", hocon)).toCompletableFuture().get(30, TimeUnit.SECONDS);
      assertTrue(reply instanceof SubmitReply.Accepted, reply.toString());

      RunSummary summary = cluster.follow("silent-run", p -> {}).get(60, TimeUnit.SECONDS);

      assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
      List<JsonNode> merges = new RunFiles(runsDir.resolve("silent-run")).merges();
      assertFalse(merges.isEmpty());
      boolean answeringWorkerMerged = false;
      for (JsonNode merge : merges) {
        List<String> missing = texts(merge.get("missing"));
        List<String> answered = texts(merge.get("workers"));
        assertTrue(missing.contains("silent"), "the silent worker is named in every merge: " + merge);
        assertFalse(answered.contains("silent"), merge.toString());
        for (JsonNode entry : merge.get("entries")) assertEquals("local-0", entry.get("worker_id").asText());
        answeringWorkerMerged |= answered.contains("local-0") && !merge.get("entries").isEmpty();
      }
      assertTrue(answeringWorkerMerged, "the answering worker's entries are merged");
    }
  }
}
