package io.quarry.coordinator.http.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.http.ApiTokens;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run page's live stream over a run directory still being written ({@code quarry dashboard}'s server): each event's
 * id is its cursor, a page that reconnects with {@code Last-Event-ID} gets only what came after it, and rows appended
 * while the stream is open reach it in the next event.
 */
@Timeout(60)
class LiveStreamResumeTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String TOKEN = "read-token-for-the-live-stream-test-0123456789";

  @TempDir Path runs;
  ActorSystem<Void> system;
  ServerBinding binding;
  final HttpClient http = HttpClient.newHttpClient();
  Stream<String> open;

  @BeforeEach
  void start() throws Exception {
    Path run = Files.createDirectories(runs.resolve("r"));
    Files.writeString(run.resolve("events.jsonl"),
        "{\"type\":\"run_submitted\",\"ts\":\"2026-12-03T00:00:00Z\",\"ts_unix_ns\":1,\"run_id\":\"r\",\"trainer\":\"stub\","
            + "\"shards\":1,\"total_steps\":100}\n"
            + "{\"type\":\"run_started\",\"ts\":\"2026-12-03T00:00:00Z\",\"ts_unix_ns\":2,\"run_id\":\"r\"}\n");
    appendRows(run, 0, 10);
    system = ActorSystem.create(Behaviors.empty(), "live-stream-test",
        ConfigFactory.parseString("pekko.actor.provider = local").withFallback(ConfigFactory.load()));
    binding = DashboardServer.bind(system, runs, ApiTokens.single(ApiTokens.Role.READ, TOKEN), "127.0.0.1", 0)
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  @AfterEach
  void stop() throws Exception {
    if (open != null) open.close();
    if (binding != null) binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    if (system != null) system.terminate();
  }

  static void appendRows(Path run, int fromStep, int toStep) throws Exception {
    StringBuilder rows = new StringBuilder();
    if (fromStep == 0) rows.append("step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,ts_unix_ns\n");
    for (int step = fromStep; step < toStep; step++) {
      rows.append(step).append(",0,w0,0,train,1.5,0.01,100.0,,").append(1_700_000_000_000_000_000L + step).append('\n');
    }
    Files.writeString(run.resolve("scalars.csv"), rows, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  /** The live stream's events as {id, data} pairs, in a queue read with a bound. */
  BlockingQueue<String[]> follow(String lastEventId) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(
        "http://127.0.0.1:" + binding.localAddress().getPort() + "/api/runs/r/live"))
        .header("Authorization", "Bearer " + TOKEN).header("Accept", "text/event-stream");
    if (lastEventId != null) request.header("Last-Event-ID", lastEventId);
    HttpResponse<Stream<String>> response = http.send(request.build(), HttpResponse.BodyHandlers.ofLines());
    assertEquals(200, response.statusCode());
    open = response.body();
    BlockingQueue<String[]> events = new LinkedBlockingQueue<>();
    Thread reader = new Thread(() -> {
      String[] event = new String[2];
      try {
        for (var lines = open.iterator(); lines.hasNext(); ) {
          String line = lines.next();
          if (line.startsWith("id:")) event[0] = line.substring(3).strip();
          if (line.startsWith("data:")) event[1] = line.substring(5).strip();
          if (line.isEmpty() && event[1] != null) {
            events.add(event);
            event = new String[2];
          }
        }
      } catch (RuntimeException e) {
        // The stream was closed by the test.
      }
    }, "sse-reader");
    reader.setDaemon(true);
    reader.start();
    return events;
  }

  JsonNode nextWithRows(BlockingQueue<String[]> events) throws Exception {
    while (true) {
      String[] event = events.poll(20, TimeUnit.SECONDS);
      assertNotNull(event, "no event with rows within 20 s");
      JsonNode update = JSON.readTree(event[1]);
      if (update.has("rows")) {
        assertEquals(update.get("cursor").asText(), event[0], "the event id is the stream's cursor");
        return update;
      }
    }
  }

  @Test
  void aStreamResumedWithLastEventIdSendsOnlyTheRowsAfterIt() throws Exception {
    JsonNode update = nextWithRows(follow("6.0.0"));
    JsonNode chunk = update.get("rows").get(0);
    assertEquals(6, chunk.get("from").asInt());
    assertEquals(10, chunk.get("to").asInt());
    assertEquals("[6,7,8,9]", chunk.get("step").toString());
    assertTrue(update.get("cursor").asText().startsWith("10."), update.toString());
  }

  @Test
  void rowsAppendedWhileTheStreamIsOpenReachItInTheNextEvent() throws Exception {
    BlockingQueue<String[]> events = follow(null);
    JsonNode first = nextWithRows(events);
    assertEquals(0, first.get("rows").get(0).get("from").asInt());
    appendRows(runs.resolve("r"), 10, 15);
    JsonNode next = nextWithRows(events);
    JsonNode chunk = next.get("rows").get(0);
    assertEquals(10, chunk.get("from").asInt());
    assertEquals("[10,11,12,13,14]", chunk.get("step").toString());
  }
}
