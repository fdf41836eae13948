package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.Worker;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A worker sizes a djl run's data where the data is, for the coordinator (SizeRun), with the djl trainer's spec. */
class WorkerSizingTest {
  /**
   * The workers of this test read data under this class's own temporary directory (where the tests write their csv
   * files) only: not all of java.io.tmpdir, which may hold the checkout itself.
   */
  @TempDir static Path dir;

  private static ActorTestKit testKit;

  @BeforeAll
  static void startUp() {
    testKit = ActorTestKit.create(ConfigFactory.parseString("pekko.actor.serialize-messages = on\n"
        + "quarry.worker.data-roots = [\"" + dir.toAbsolutePath() + "\"]").withFallback(ConfigFactory.load()));
  }

  @AfterAll
  static void shutDown() {
    testKit.shutdownTestKit();
  }

  private static WorkerCommand.RunSized size(String workerId, String hocon) {
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create(workerId, "cpu"));
    TestProbe<WorkerCommand.RunSized> sized = testKit.createTestProbe();
    worker.tell(new WorkerCommand.SizeRun(1, new RunSpec("csv-run", hocon), sized.getRef()));
    return sized.receiveMessage(Duration.ofSeconds(30));
  }

  private static String csvRun(Path file) {
    return "trainer = djl\nmodel.type = mlp\ndataset.format = csv\ndataset.val-fraction = 0.2\n"
        + "dataset.path = \"" + file + "\"\n";
  }

  @Test
  void sizesACsvRunByCountingItsRows() throws IOException {
    Path file = dir.resolve("rows.csv");
    Files.writeString(file, "a,b,label\n" + "0.5,1.5,1\n".repeat(50));

    WorkerCommand.RunSized answer = size("w-csv", csvRun(file));

    assertEquals(new WorkerCommand.RunSized("csv-run", 40, "", "w-csv"), answer, "50 rows, 20% held out");
  }

  @Test
  void aMissingFileIsAnsweredWithTheConfigError() {
    Path missing = dir.resolve("missing.csv");

    WorkerCommand.RunSized answer = size("w-missing", csvRun(missing));

    assertEquals(-1, answer.samples());
    assertEquals("w-missing", answer.workerId());
    assertTrue(answer.error().contains("dataset.path") && answer.error().contains(missing.toString()), answer.error());
  }

  @Test
  void dataOutsideTheWorkersDataRootsIsNotReadAndTheAnswerSaysWhy() {
    Path outside = Path.of("../data/digits/digits.csv.gz").toAbsolutePath().normalize();
    assertTrue(Files.exists(outside) && !outside.startsWith(dir), "a readable file outside the roots: " + outside);
    WorkerCommand.RunSized answer = size("w-outside", csvRun(outside));
    assertEquals(-1, answer.samples());
    assertTrue(answer.error().contains("'dataset.path'") && answer.error().contains("outside this worker's data roots")
        && answer.error().contains("--data-root"), answer.error());
  }
}
