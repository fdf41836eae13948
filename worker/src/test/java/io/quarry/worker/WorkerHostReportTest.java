package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HostLoad;
import io.quarry.protocol.WorkerCommand;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** A worker tells its coordinator how busy its host is, every host-report-interval; nvidia-smi's lines parse. */
class WorkerHostReportTest {
  private static final ActorTestKit testKit = ActorTestKit.create(ConfigFactory.parseString(
      "pekko.actor.serialize-messages = on\nquarry.worker.host-report-interval = 100ms").withFallback(ConfigFactory.load()));

  @AfterAll
  static void shutDown() {
    testKit.shutdownTestKit();
  }

  @Test
  void aWorkerReportsItsHostsLoadToItsCoordinator() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-host", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(5, coordinator.getRef()));
    CoordinatorCommand.HostReported report = coordinator.fishForMessage(Duration.ofSeconds(10), message ->
        message instanceof CoordinatorCommand.HostReported
            ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
            : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore())
        .stream().map(CoordinatorCommand.HostReported.class::cast).reduce((a, b) -> b).orElseThrow();
    assertEquals("w-host", report.workerId());
    assertEquals(5, report.incarnation());
    HostLoad load = report.load();
    assertTrue(load.memoryTotalBytes() > 0, load.toString());
    assertTrue(load.memoryUsedBytes() > 0 && load.memoryUsedBytes() <= load.memoryTotalBytes(), load.toString());
    assertTrue(load.cpuLoad() <= 1.0, load.toString());
    assertTrue(!load.host().isEmpty());
  }

  @Test
  void nvidiaSmisLinesParseAndWhatIsNotAGpuIsSkipped() {
    List<HostLoad.Gpu> gpus = HostSampler.parse(List.of(
        "0, NVIDIA H200, 97, 70000, 143771",
        "1, NVIDIA H200, [N/A], 10, 143771",
        "WARNING: infoROM is corrupted at gpu 0000:04:00.0"));
    assertEquals(List.of(new HostLoad.Gpu(0, "NVIDIA H200", 97, 70000, 143771),
        new HostLoad.Gpu(1, "NVIDIA H200", -1, 10, 143771)), gpus);
  }
}
