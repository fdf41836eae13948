package io.quarry.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.coordinator.store.RunStoreException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The totals a recovered run continues from, as the run store keeps them (the run record's metrics JSON). */
class RunLedgerTotalsTest {
  @Test
  void totalsAndEachCompletedShardsMetricsSurviveTheStore() {
    RunLedger.Totals totals = new RunLedger.Totals(1200, 38_400, 3, 7, 0.25f, 40, Map.of(
        0, new RunLedger.ShardMetrics(0.1087f, 0.96f),
        2, new RunLedger.ShardMetrics(0.5f, Float.NaN)));
    RunLedger.Totals read = RunLedger.Totals.fromJson(totals.toJson());
    assertEquals(1200, read.stepsTrained());
    assertEquals(38_400, read.samplesTrained());
    assertEquals(3, read.droppedEvents());
    assertEquals(7, read.merges());
    assertEquals(0.25f, read.lastLoss());
    assertEquals(40, read.stepsRedone());
    assertEquals(Map.of(0, new RunLedger.ShardMetrics(0.1087f, 0.96f), 2, new RunLedger.ShardMetrics(0.5f, Float.NaN)),
        read.shardMetrics());
  }

  @Test
  void totalsWrittenBeforeShardMetricsExistedReadAsNone() {
    String older = "{\"steps_trained\":10,\"samples\":100,\"dropped_events\":0,\"merges\":1,\"final_loss\":null,"
        + "\"steps_redone\":0}";
    RunLedger.Totals read = RunLedger.Totals.fromJson(older);
    assertEquals(10, read.stepsTrained());
    assertTrue(Float.isNaN(read.lastLoss()));
    assertTrue(read.shardMetrics().isEmpty());
    assertEquals(RunLedger.Totals.ZERO, RunLedger.Totals.fromJson(null));
  }

  @Test
  void storedMetricsThatAreNotTotalsAreAClearError() {
    RunStoreException e = assertThrows(RunStoreException.class,
        () -> RunLedger.Totals.fromJson("{\"shard_metrics\":{\"first\":{\"val_loss\":1}}}"));
    assertTrue(e.getMessage().startsWith("stored metrics are not Quarry's totals JSON"), e.getMessage());
  }
}
