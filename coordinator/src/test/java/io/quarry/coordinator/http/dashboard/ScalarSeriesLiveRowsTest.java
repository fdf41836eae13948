package io.quarry.coordinator.http.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The rows a live page is sent: all of them when few, else each series thinned to its lows and highs. */
class ScalarSeriesLiveRowsTest {
  static void add(ScalarTable table, long step, int shard, String split, double loss) {
    byte[] line = (step + ",0,w" + shard + "," + shard + "," + split + "," + loss + ",0.01,100.0,,"
        + (1_700_000_000_000_000_000L + step * 1_000_000L)).getBytes(StandardCharsets.US_ASCII);
    table.add(line, 0, line.length);
  }

  static List<Long> longs(JsonNode array) {
    List<Long> out = new ArrayList<>();
    array.forEach(value -> out.add(value.asLong()));
    return out;
  }

  @Test
  void sendsEveryRowWhenEachSeriesHasFewerThanTheLimit() {
    ScalarTable table = new ScalarTable();
    for (int step = 0; step < 10; step++) {
      add(table, step, 0, "train", 1.0);
      add(table, step, 1, "train", 2.0);
    }
    ObjectNode rows = ScalarSeries.liveRows(table, 4, 20, 64);
    assertEquals(16, rows.get("step").size());
    assertEquals(0, rows.get("thinned").asInt());
    assertEquals(4, rows.get("from").asInt());
    assertEquals(20, rows.get("to").asInt());
    assertEquals(List.of(2L, 2L, 3L, 3L), longs(rows.get("step")).subList(0, 4));
    assertEquals("w1", rows.get("worker").get(1).asText());
    assertEquals(1_700_000_000_002L, rows.get("t").get(0).asLong(), "t is the row's wall time in ms");
  }

  @Test
  void thinsALongSeriesToItsLowestAndHighestLossPerBucketKeepingASpike() {
    ScalarTable table = new ScalarTable();
    for (int step = 0; step < 1000; step++) {
      add(table, step, 0, "train", step == 537 ? 50.0 : 1.0 + (step % 7) * 0.01);
    }
    add(table, 1000, 0, "val", 0.5);
    ObjectNode rows = ScalarSeries.liveRows(table, 0, table.size(), 64);
    int sent = rows.get("step").size();
    assertTrue(sent <= 64 + 1, "at most 64 train rows and the val row: " + sent);
    assertEquals(table.size() - sent, rows.get("thinned").asInt());
    List<Long> steps = longs(rows.get("step"));
    assertTrue(steps.contains(537L), "the spike reaches the page: " + steps);
    assertTrue(steps.contains(1000L), "the validation row is a series of its own, sent whole");
    List<Long> sorted = new ArrayList<>(steps);
    sorted.sort(null);
    assertEquals(sorted, steps, "rows stay in file order");
  }

  @Test
  void aNonFiniteLossIsSentWhenItIsAllABucketHas() {
    ScalarTable table = new ScalarTable();
    for (int step = 0; step < 200; step++) add(table, step, 0, "train", step >= 100 ? Double.NaN : 1.0);
    ObjectNode rows = ScalarSeries.liveRows(table, 0, table.size(), 8);
    assertTrue(longs(rows.get("step")).stream().anyMatch(step -> step >= 100), "the diverged half is shown");
    assertTrue(rows.get("loss").toString().contains("null"), "as a gap: " + rows.get("loss"));
  }
}
