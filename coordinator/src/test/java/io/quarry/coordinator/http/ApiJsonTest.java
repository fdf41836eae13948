package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import java.util.List;
import org.junit.jupiter.api.Test;

class ApiJsonTest {
  @Test
  void hardestEntriesShowTheLabelAndPredictionOrNullWhenUnknown() {
    RunStatus status = new RunStatus("r", "", RunState.RUNNING, 1L, 2L, 0L, 5L, 10L, 1f, 1.0, 0L, 1, "", List.of(),
        List.of("w"), "runs/r", List.of(new HardExample(7, 3f, "w", 2, 4, 1), new HardExample(8, 2f, "w", 2)),
        io.quarry.protocol.RunCounters.ZERO, "");

    ObjectNode run = ApiJson.run(status);

    JsonNode labelled = run.get("hardest").get(0);
    assertEquals(7, labelled.get("sample_id").asLong());
    assertEquals(4, labelled.get("label").asInt());
    assertEquals(1, labelled.get("predicted").asInt());
    JsonNode unknown = run.get("hardest").get(1);
    assertTrue(unknown.get("label").isNull(), unknown.toString());
    assertTrue(unknown.get("predicted").isNull(), unknown.toString());
  }

  @Test
  void countersAreAnObjectByLabelWithEveryCounter() {
    RunStatus status = new RunStatus("r", "", RunState.RUNNING, 1L, 2L, 0L, 5L, 10L, 1f, 1.0, 0L, 1, "", List.of(),
        List.of("w"), "runs/r", List.of(), io.quarry.protocol.RunCounters.ZERO
            .with(io.quarry.protocol.RunCounter.SHARD_RETRIES, 2), "");

    JsonNode counters = ApiJson.run(status).get("counters");

    assertEquals(2, counters.get("shard_retries").asLong());
    assertEquals(0, counters.get("telemetry_dropped").asLong());
    assertEquals(io.quarry.protocol.RunCounter.values().length, counters.size());
  }

  @Test
  void aHardExamplesWarningIsShownAndNullWhenThereIsNone() {
    RunStatus clean = new RunStatus("r", "", RunState.COMPLETED, 1L, 2L, 3L, 5L, 5L, 1f, 1.0, 0L, 4, "", List.of(),
        List.of("w"), "runs/r", List.of(), io.quarry.protocol.RunCounters.ZERO, "");
    RunStatus warned = new RunStatus("r", "", RunState.COMPLETED, 1L, 2L, 3L, 5L, 5L, 1f, 1.0, 0L, 4, "", List.of(),
        List.of("w"), "runs/r", List.of(), io.quarry.protocol.RunCounters.ZERO,
        "no hard examples: all 4 merges left every worker out");

    assertTrue(ApiJson.run(clean).get("hard_examples_warning").isNull());
    assertEquals("no hard examples: all 4 merges left every worker out",
        ApiJson.run(warned).get("hard_examples_warning").asText());
  }
}
