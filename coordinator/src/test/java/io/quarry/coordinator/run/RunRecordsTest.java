package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.coordinator.merge.MergeMode;
import io.quarry.coordinator.merge.MergeResult;
import io.quarry.coordinator.merge.MergeRounds;
import io.quarry.coordinator.store.RunStoreException;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunState;
import io.quarry.protocol.TelemetryEvent;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The one schema of a run's records: events, merge records, scalars rows and the stored totals. */
class RunRecordsTest {
  private static final Instant NOW = Instant.parse("2026-01-02T03:04:05.123456789Z");
  private final RunRecords records = new RunRecords("r1", Clock.fixed(NOW, ZoneOffset.UTC));

  @Test
  void everyEventHasItsTypeTimeAndRunThenTheShardsFields() {
    ObjectNode event = records.shardAssigned(2, 3, "w1", "/ck/step-10", 10);

    assertEquals("shard_assigned", event.get("type").asText());
    assertEquals("2026-01-02T03:04:05.123456789Z", event.get("ts").asText());
    assertEquals(NOW.getEpochSecond() * 1_000_000_000L + NOW.getNano(), event.get("ts_unix_ns").asLong());
    assertEquals("r1", event.get("run_id").asText());
    assertEquals("w1", event.get("worker_id").asText());
    assertEquals(2, event.get("shard").asInt());
    assertEquals(3, event.get("attempt").asInt());
    assertEquals("/ck/step-10", event.get("resume_from").asText());
    assertEquals(10, event.get("resume_step").asLong());
    assertFalse(records.shardAssigned(0, 1, "w1", null, 0).has("resume_step"), "a fresh start resumes from nothing");
    assertFalse(records.shardRetried(0, 2, 5).has("worker_id"), "a retried shard has no worker yet");
  }

  @Test
  void runCompletedHasTheTotalsTheCountersByLabelAndAReasonUnlessItCompleted() {
    RunCounters counters = RunCounters.ZERO.with(RunCounter.TELEMETRY_DROPPED, 4).with(RunCounter.MERGES, 3)
        .with(RunCounter.PAYLOADS_DROPPED, 1);
    RunTotals totals = new RunTotals(120, 3840, 3, 0.5f, 7, Map.of(0, new RunTotals.ShardMetrics(0.25f, 0.75f)),
        RunCounters.ZERO.with(RunCounter.MERGES, 3), Map.of("w1", RunCounters.ZERO.with(RunCounter.TELEMETRY_DROPPED, 4)));

    ObjectNode completed = records.runCompleted(RunState.COMPLETED, "", 110, 110, totals, 2, 900, counters, "", null);
    ObjectNode failed = records.runCompleted(RunState.FAILED, "shard 0 failed", 10, 110, totals, 0, 900, counters, "",
        null);

    assertEquals("completed", completed.get("status").asText());
    assertEquals(110, completed.get("steps").asLong());
    assertEquals(120, completed.get("steps_trained").asLong());
    assertEquals(7, completed.get("steps_redone").asLong());
    assertEquals(3840, completed.get("samples").asLong());
    assertEquals(4, completed.get("dropped_events").asLong());
    assertEquals(3, completed.get("merges").asInt());
    assertEquals(2, completed.get("payloads").asInt());
    assertEquals(1, completed.get("payloads_dropped").asInt());
    assertEquals(0.5, completed.get("final_loss").asDouble());
    assertEquals(0.75, completed.get("metrics").get("val_accuracy").asDouble());
    assertEquals(1, completed.get("metrics").get("shards").asInt());
    assertEquals(4, completed.get("counters").get("telemetry_dropped").asLong());
    assertEquals(RunCounter.values().length, completed.get("counters").size(), "every counter, by label");
    assertFalse(completed.has("reason"));
    assertEquals("shard 0 failed", failed.get("reason").asText());
    assertFalse(completed.has("hard_examples_warning"), "every merge heard from every worker");
  }

  @Test
  void runCompletedSaysWhenMergesLeftWorkersOutAndWhyTheLastDid() {
    RunCounters counters = RunCounters.ZERO.with(RunCounter.MERGES, 2).with(RunCounter.MERGES_INCOMPLETE, 2)
        .with(RunCounter.MERGES_UNANSWERED, 2);
    MergeResult empty = new MergeResult(1, MergeMode.TOP_K, List.of(), Double.NaN, List.of(), Map.of(), 0, 0,
        Float.NaN);
    MergeRounds.Merged last = new MergeRounds.Merged(1, empty, Map.of("w1", "lost: node unreachable"), Map.of(), 3, 0);

    ObjectNode completed = records.runCompleted(RunState.COMPLETED, "", 10, 10, RunTotals.ZERO, 0, 900, counters,
        "no hard examples: all 2 merges left every worker out", last);

    assertEquals("no hard examples: all 2 merges left every worker out", completed.get("hard_examples_warning").asText());
    assertEquals(2, completed.get("merges_incomplete").asLong());
    assertEquals(1, completed.get("last_incomplete_merge").asInt());
    assertEquals("lost: node unreachable", completed.get("last_missing_why").get("w1").asText());
  }

  @Test
  void aMergeRecordNamesTheMissingWorkersAndGivesEveryEntryTheSameFields() {
    MergeResult result = new MergeResult(4, MergeMode.TOP_K, List.of(new HardExample(7, 3f, "w1", 12, 2, 5),
        new HardExample(9, 2f, "w2", 11)), Double.NaN, List.of("w1", "w2"), Map.of("w1", 1, "w2", 1), 100, 10, 3f);
    ObjectNode record = records.mergeRecord(new MergeRounds.Merged(4, result,
        Map.of("w3", "timeout: no answer within hard-examples.merge-timeout = 5s"), Map.of("w1", 2, "w2", 1), 1.25, 0.5), "top-k", 64);

    assertEquals(4, record.get("merge").asInt());
    assertEquals("top-k", record.get("mode").asText());
    assertTrue(record.get("threshold").isNull(), "no loss seen: no threshold");
    assertEquals("w3", record.get("missing").get(0).asText());
    assertEquals("timeout: no answer within hard-examples.merge-timeout = 5s",
        record.get("missing_why").get("w3").asText());
    assertEquals(2, record.get("snapshot_parts").get("w1").asInt());
    assertEquals(1, record.get("counts").get("w2").asInt());
    assertEquals(2, record.get("entries").get(0).get("label").asInt());
    assertTrue(record.get("entries").get(1).get("label").isNull());
    assertTrue(record.get("entries").get(1).get("predicted").isNull());
  }

  @Test
  void telemetryKeepsTheWorkersTimeAndStepsAndEvaluationsAreScalarsRows() {
    TelemetryEvent.Step step = new TelemetryEvent.Step(1_000_000_123L, 1, 5, 0, 0.5f, 0.1f, 200f);
    TelemetryEvent.Epoch epoch = new TelemetryEvent.Epoch(1_000_000_124L, 1, 5, 0, 0.6f);

    assertEquals(1_000_000_123L, records.telemetry("w1", step).get("ts_unix_ns").asLong());
    assertEquals("5,0,w1,1,train,0.5,0.1,200.0,,1000000123\n", RunRecords.scalarsRow("w1", step));
    assertEquals("epoch", records.telemetry("w1", epoch).get("type").asText());
    assertNull(RunRecords.scalarsRow("w1", epoch), "an epoch is no scalars row");
  }

  @Test
  void totalsCountersAndEachCompletedShardsMetricsSurviveTheStore() {
    RunTotals totals = new RunTotals(1200, 38_400, 7, 0.25f, 40,
        Map.of(0, new RunTotals.ShardMetrics(0.1087f, 0.96f), 2, new RunTotals.ShardMetrics(0.5f, Float.NaN)),
        RunCounters.ZERO.with(RunCounter.SHARD_RETRIES, 2).with(RunCounter.MERGE_GATHER_MS_MAX, 30),
        Map.of("w1", RunCounters.ZERO.with(RunCounter.TELEMETRY_DROPPED, 3),
            "w2", RunCounters.ZERO.with(RunCounter.SAMPLES_REJECTED, 9)));

    RunTotals read = RunRecords.totals(RunRecords.totalsJson(totals));

    assertEquals(totals, read);
    assertEquals(3, read.droppedEvents());
  }

  @Test
  void totalsWrittenBeforeCountersExistedReadWithTheirDroppedEventsAndNoCounters() {
    String older = "{\"steps_trained\":10,\"samples\":100,\"dropped_events\":2,\"merges\":1,\"final_loss\":null,"
        + "\"steps_redone\":0}";
    RunTotals read = RunRecords.totals(older);
    assertEquals(10, read.stepsTrained());
    assertTrue(Float.isNaN(read.lastLoss()));
    assertTrue(read.shardMetrics().isEmpty());
    assertEquals(2, read.droppedEvents());
    assertEquals(RunCounters.ZERO, read.counters());
    assertEquals(RunTotals.ZERO, RunRecords.totals(null));
  }

  @Test
  void storedMetricsThatAreNotTotalsAreAClearError() {
    RunStoreException e = assertThrows(RunStoreException.class,
        () -> RunRecords.totals("{\"shard_metrics\":{\"first\":{\"val_loss\":1}}}"));
    assertTrue(e.getMessage().startsWith("stored metrics are not Quarry's totals JSON"), e.getMessage());
  }
}
