package io.quarry.coordinator.http.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run folder hands the live streams the rows each refresh read, as chunks rendered once for every stream. */
class RunFolderLiveRowsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  void append(int fromStep, int toStep) throws Exception {
    StringBuilder rows = new StringBuilder();
    if (fromStep == 0) rows.append("step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,ts_unix_ns\n");
    for (int step = fromStep; step < toStep; step++) {
      rows.append(step).append(",0,w0,0,train,1.5,0.01,100.0,,").append(1_700_000_000_000_000_000L + step).append('\n');
    }
    Files.writeString(dir.resolve("scalars.csv"), rows, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  static String chunks(RunFolder folder, long nowNs, int from, int max) throws Exception {
    return folder.read(nowNs, f -> f.rowChunksFrom(from, max));
  }

  @Test
  void chunksFromARefreshBoundaryCoverEveryRowSinceIt() throws Exception {
    RunFolder folder = new RunFolder(dir, "run", 0);
    append(0, 10);
    folder.refresh(1);
    append(10, 15);
    folder.refresh(2);

    JsonNode all = JSON.readTree(chunks(folder, 3, 0, 1000));
    assertEquals(2, all.size(), "one chunk per refresh");
    assertEquals(10, all.get(0).get("step").size());
    assertEquals(10, all.get(1).get("from").asInt());
    assertEquals(15, all.get(1).get("to").asInt());
    JsonNode latest = JSON.readTree(chunks(folder, 4, 10, 1000));
    assertEquals(1, latest.size());
    assertEquals(14, latest.get(0).get("step").get(4).asInt());
  }

  @Test
  void aStreamNotAtABoundaryOrTooFarBehindOrCaughtUpGetsNoChunks() throws Exception {
    RunFolder folder = new RunFolder(dir, "run", 0);
    append(0, 10);
    folder.refresh(1);
    assertNull(chunks(folder, 2, 3, 1000), "not where a refresh started");
    assertNull(chunks(folder, 3, 0, 5), "more rows than a stream may be sent");
    assertNull(chunks(folder, 4, 10, 1000), "nothing new");
  }
}
