package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The HTTP API against a real coordinator and test workers: submit, follow, list, stop, workers, health. */
@Timeout(120)
class HttpApiTest extends HttpApiFixture {

  @Test
  void submitsARunAndReportsItUntilItCompletes() throws Exception {
    ApiClient.Answer submitted = api.post("/api/runs",
        "{\"config\": \"stub.samples = 200\\nepochs = 2\", \"overrides\": [\"batch-size=10\"], \"run_id\": \"demo\"}");
    assertEquals(201, submitted.status(), submitted.body());
    assertTrue(submitted.contentType().startsWith("application/json"), submitted.contentType());
    assertEquals("demo", submitted.json().get("run_id").asText());
    assertEquals(runsDir.resolve("demo").toString(), submitted.json().get("run_dir").asText());
    assertEquals("/api/runs/demo", submitted.response().headers().firstValue("Location").orElse(""));
    assertTrue(Files.isRegularFile(runsDir.resolve("demo/run.conf")));

    JsonNode run = awaitState("demo", "completed");
    for (String field : List.of("run_id", "name", "state", "submitted", "submitted_unix_ms", "started",
        "started_unix_ms", "finished", "finished_unix_ms", "steps", "total_steps", "progress", "last_loss",
        "samples_per_s", "dropped_events", "merges", "counters", "reason", "shards", "workers", "run_dir")) {
      assertTrue(run.has(field), () -> "no " + field + " in " + run);
    }
    assertEquals(40, run.get("total_steps").asLong(), "200 samples / 10 per batch x 2 epochs");
    assertEquals(40, run.get("steps").asLong());
    assertEquals(1.0, run.get("progress").asDouble());
    assertEquals(1.0, run.get("last_loss").asDouble(), "the test workers report a final loss of 1.0");
    assertTrue(run.get("reason").isNull(), "a completed run has no reason");
    for (String instant : List.of("submitted", "started", "finished")) {
      String iso = run.get(instant).asText();
      assertTrue(iso.endsWith("Z"), iso);
      assertEquals(Instant.parse(iso).toEpochMilli(), run.get(instant + "_unix_ms").asLong());
    }
    assertTrue(run.get("finished_unix_ms").asLong() >= run.get("started_unix_ms").asLong());
    assertTrue(run.get("started_unix_ms").asLong() >= run.get("submitted_unix_ms").asLong());

    JsonNode shards = run.get("shards");
    assertEquals(WORKERS, shards.size(), "one shard per worker");
    long shardSteps = 0;
    for (int i = 0; i < shards.size(); i++) {
      JsonNode shard = shards.get(i);
      for (String field : List.of("shard", "state", "attempt", "failures", "worker_id", "step", "total_steps",
          "checkpoint_step", "last_failure")) {
        assertTrue(shard.has(field), () -> "no " + field + " in " + shard);
      }
      assertEquals(i, shard.get("shard").asInt());
      assertEquals("done", shard.get("state").asText());
      assertEquals(1, shard.get("attempt").asInt());
      assertEquals(0, shard.get("failures").asInt());
      assertTrue(shard.get("worker_id").asText().startsWith("instant-"), shard.toString());
      assertEquals(shard.get("total_steps").asLong(), shard.get("step").asLong());
      assertTrue(shard.get("last_failure").isNull());
      shardSteps += shard.get("step").asLong();
    }
    assertEquals(40, shardSteps);
    assertEquals(runsDir.resolve("demo").toString(), run.get("run_dir").asText());
  }

  @Test
  void aRunCanBeAskedForRightAfterItIsSubmitted() throws Exception {
    // The run must be found before its run actor has reported anything.
    String runId = submit("{\"overrides\": [\"stub.samples=100\"]}");
    ApiClient.Answer answer = api.get("/api/runs/" + runId);
    assertEquals(200, answer.status(), answer.body());
    assertEquals(runId, answer.json().get("run_id").asText());
    awaitState(runId, "completed");
  }

  @Test
  void anEmptyBodySubmitsTheDefaults() throws Exception {
    // Every field is optional; the defaults train 10000 samples (instantly, with the test workers).
    String runId = submit("");
    assertTrue(runId.startsWith("run-"), runId);
    JsonNode run = awaitState(runId, "completed");
    assertEquals(run.get("total_steps").asLong(), run.get("steps").asLong());
  }

  @Test
  void listsEveryRunInSubmissionOrder() throws Exception {
    String first = submit("{\"run_id\": \"listed-1\", \"overrides\": [\"stub.samples=50\"]}");
    String second = submit("{\"run_id\": \"listed-2\", \"overrides\": [\"stub.samples=50\"]}");
    awaitState(first, "completed");
    awaitState(second, "completed");

    ApiClient.Answer answer = api.get("/api/runs");
    assertEquals(200, answer.status());
    List<String> ids = new ArrayList<>();
    for (JsonNode run : answer.json().get("runs")) ids.add(run.get("run_id").asText());
    assertTrue(ids.indexOf(first) >= 0 && ids.indexOf(first) < ids.indexOf(second), ids.toString());
    JsonNode listed = answer.json().get("runs").get(ids.indexOf(first));
    assertEquals(api.get("/api/runs/" + first).json(), listed, "the list shows each run as GET /api/runs/{id} does");
  }

  @Test
  void listsTheWorkers() throws Exception {
    ApiClient.Answer answer = api.get("/api/workers");
    assertEquals(200, answer.status());
    JsonNode workers = answer.json().get("workers");
    assertEquals(WORKERS, workers.size(), workers.toString());
    List<String> ids = new ArrayList<>();
    for (JsonNode worker : workers) {
      ids.add(worker.get("worker_id").asText());
      assertEquals("cpu", worker.get("device").asText());
      assertTrue(List.of("idle", "busy").contains(worker.get("state").asText()), worker.toString());
      assertTrue(worker.has("run_id"));
    }
    assertEquals(List.of("instant-0", "instant-1"), ids.stream().sorted().toList());
  }

  @Test
  void reportsHealth() throws Exception {
    ApiClient.Answer answer = api.get("/api/health");
    assertEquals(200, answer.status());
    assertEquals("ok", answer.json().get("status").asText());
    assertEquals(WORKERS, answer.json().get("workers").asInt());
    assertTrue(answer.json().get("active_runs").isIntegralNumber());
  }

  @Test
  void stopsARunningRun() throws Exception {
    // The test workers hang on a run with stub.hang-at-step set, until it is stopped.
    String runId = submit("{\"run_id\": \"to-stop\", \"overrides\": [\"stub.samples=100\", \"stub.hang-at-step=1\"]}");
    awaitState(runId, "running");
    assertEquals(1, api.get("/api/health").json().get("active_runs").asInt());

    ApiClient.Answer stopped = api.post("/api/runs/to-stop/stop", "{\"reason\": \"enough\"}");
    assertEquals(202, stopped.status(), stopped.body());
    assertEquals("to-stop", stopped.json().get("run_id").asText());
    assertTrue(stopped.json().get("accepted").asBoolean());
    assertTrue(stopped.json().has("message"));

    JsonNode run = awaitState(runId, "stopped");
    assertEquals("enough", run.get("reason").asText());
    assertEquals(0, api.get("/api/health").json().get("active_runs").asInt());
  }

  @Test
  void stoppingAFinishedRunIsAConflict() throws Exception {
    String runId = submit("{\"run_id\": \"finished\", \"overrides\": [\"stub.samples=50\"]}");
    awaitState(runId, "completed");
    Path events = runsDir.resolve("finished/events.jsonl");
    byte[] before = Files.readAllBytes(events);

    ApiClient.Answer answer = api.post("/api/runs/finished/stop", "");
    assertEquals(409, answer.status(), answer.body());
    assertEquals("run finished is already completed", answer.error());
    assertFalse(answer.json().get("accepted").asBoolean());
    assertEquals("completed", api.get("/api/runs/finished").json().get("state").asText());
    assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(events)), "nothing was written");
  }

  @Test
  void aTakenRunIdIsAConflict() throws Exception {
    String runId = submit("{\"run_id\": \"taken\", \"overrides\": [\"stub.samples=50\"]}");
    awaitState(runId, "completed");
    String before = api.get("/api/runs/taken").body();

    ApiClient.Answer answer = api.post("/api/runs", "{\"run_id\": \"taken\"}");
    assertEquals(409, answer.status(), answer.body());
    assertEquals("a run with id 'taken' exists already", answer.error());
    assertEquals(before, api.get("/api/runs/taken").body());
  }
}
