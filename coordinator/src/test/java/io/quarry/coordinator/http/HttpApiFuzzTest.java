package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A bounded fuzz run of the API: thousands of requests with mutated and random JSON bodies, random paths and
 * methods, with no token, a wrong one, a read and an operate token. Every answer is a 4xx or a success — never a 5xx,
 * never a hang (each request has a deadline) — and nothing stored changes on a refusal: at the end the coordinator
 * knows exactly the runs it accepted (201), and the runs directory holds exactly theirs.
 */
@Timeout(300)
class HttpApiFuzzTest extends HttpApiFixture {
  private static final int REQUESTS = 3000;
  private static final long SEED = 20261203L;

  private static final List<String> VALID_BODIES = List.of(
      "{\"overrides\": [\"stub.samples=20\"]}",
      "{\"config\": \"stub.samples = 30\\nepochs = 1\", \"overrides\": [\"batch-size=10\"], \"run_id\": \"fuzz\"}",
      "{\"config\": \"trainer = process\\nprocess.command = [\\\"/bin/sh\\\", \\\"-c\\\", \\\"id\\\"]\"}",
      "{\"reason\": \"fuzz\"}",
      "{}");

  private static final String JSON_CHARS = "{}[]\",:\\ 0a-=.";

  private final Random random = new Random(SEED);
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

  @Test
  void noRequestGetsA5xxOrHangsAndRefusalsStoreNothing() throws Exception {
    awaitState(submit("{\"run_id\": \"existing\", \"overrides\": [\"stub.samples=20\"]}"), "completed");
    int runsBefore = runs().size();
    long dirsBefore = runDirectories();
    List<String> accepted = new ArrayList<>();
    Map<Integer, Integer> statuses = new TreeMap<>();

    for (int i = 0; i < REQUESTS; i++) {
      String method = pick("GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS");
      String path = path();
      byte[] body = method.equals("GET") || method.equals("HEAD") ? null : body();
      String token = pick(null, "wrong-token-0123456789abcdefghij", READ_TOKEN, OPERATE_TOKEN, OPERATE_TOKEN);
      HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(
              "http://127.0.0.1:" + binding.localAddress().getPort() + path))
          .timeout(Duration.ofSeconds(20))
          .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
      if (token != null) request.header("Authorization", "Bearer " + token);
      if (random.nextBoolean()) request.header("Content-Type", pick("application/json", "text/plain", "application/x-www-form-urlencoded"));
      String shown = method + " " + path + " " + (body == null ? "" : new String(body, StandardCharsets.UTF_8));
      HttpResponse<String> answer;
      try {
        answer = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
      } catch (java.io.IOException e) {
        throw new AssertionError("no answer (" + e + ") to " + shown.substring(0, Math.min(300, shown.length())), e);
      }
      int status = answer.statusCode();
      statuses.merge(status, 1, Integer::sum);
      assertTrue(status < 500, () -> status + " for " + shown.substring(0, Math.min(300, shown.length())) + ": " + answer.body());
      if (status == 201) accepted.add(JSON.readTree(answer.body()).get("run_id").asText());
    }

    System.out.println("fuzz: " + REQUESTS + " requests, answers by status " + statuses);
    assertEquals(runsBefore + accepted.size(), runs().size(), "the coordinator knows exactly the accepted runs");
    assertEquals(dirsBefore + accepted.size(), runDirectories(), "one run directory per accepted run, no other");
    assertTrue(statuses.getOrDefault(401, 0) > 0 && statuses.getOrDefault(400, 0) > 0, statuses.toString());
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

  private List<JsonNode> runs() throws Exception {
    List<JsonNode> list = new ArrayList<>();
    api.get("/api/runs").json().get("runs").forEach(list::add);
    return list;
  }

  private long runDirectories() throws Exception {
    try (Stream<java.nio.file.Path> dirs = Files.list(runsDir)) {
      return dirs.filter(Files::isDirectory).count();
    }
  }

  private String path() {
    String segment = segment();
    return switch (random.nextInt(9)) {
      case 0 -> "/api/runs";
      case 1 -> "/api/runs/" + segment;
      case 2 -> "/api/runs/" + segment + "/stop";
      case 3 -> "/api/runs/existing" + pick("", "/stop", "/", "/stop/x");
      case 4 -> "/api/workers" + pick("", "/", "/x");
      case 5 -> "/api/health" + pick("", "?verbose=1", "/x");
      case 6 -> "/api/" + segment;
      case 7 -> "/" + segment + "/" + segment();
      default -> "/api/runs?" + segment + "=" + segment();
    };
  }

  /** A path segment: a plausible id, a traversal, or random bytes, percent-encoded. */
  private String segment() {
    return switch (random.nextInt(5)) {
      case 0 -> pick("existing", "run-1", "fuzz", "..", ".", "%2e%2e", "a%2Fb", "%00");
      case 1 -> "x".repeat(1 + random.nextInt(300));
      default -> {
        byte[] bytes = new byte[1 + random.nextInt(24)];
        random.nextBytes(bytes);
        StringBuilder encoded = new StringBuilder();
        for (byte b : bytes) encoded.append('%').append(String.format("%02X", b & 0xFF));
        yield encoded.toString();
      }
    };
  }

  /** A body: a valid one mutated, random JSON, random bytes, or a big string. */
  private byte[] body() {
    return switch (random.nextInt(6)) {
      case 0, 1, 2 -> mutate(pick(VALID_BODIES.toArray(new String[0])).getBytes(StandardCharsets.UTF_8));
      case 3 -> randomJson(0).getBytes(StandardCharsets.UTF_8);
      case 4 -> {
        byte[] bytes = new byte[random.nextInt(512)];
        random.nextBytes(bytes);
        yield bytes;
      }
      default -> ("{\"config\": \"" + "# ".repeat(random.nextInt(60_000)) + "\"}").getBytes(StandardCharsets.UTF_8);
    };
  }

  private byte[] mutate(byte[] body) {
    byte[] mutated = body.clone();
    int edits = 1 + random.nextInt(4);
    for (int i = 0; i < edits && mutated.length > 0; i++) {
      int at = random.nextInt(mutated.length);
      switch (random.nextInt(4)) {
        case 0 -> mutated[at] = (byte) random.nextInt(256);
        case 1 -> mutated[at] = (byte) JSON_CHARS.charAt(random.nextInt(JSON_CHARS.length()));
        case 2 -> mutated = java.util.Arrays.copyOf(mutated, at);
        default -> {
          byte[] longer = new byte[mutated.length + 1];
          System.arraycopy(mutated, 0, longer, 0, at);
          longer[at] = (byte) "\"{[".charAt(random.nextInt(3));
          System.arraycopy(mutated, at, longer, at + 1, mutated.length - at);
          mutated = longer;
        }
      }
    }
    return mutated;
  }

  private String randomJson(int depth) {
    int kind = depth > 3 ? random.nextInt(4) : random.nextInt(6);
    return switch (kind) {
      case 0 -> Long.toString(random.nextLong());
      case 1 -> pick("true", "false", "null", "1e999", "-0", "\"\"");
      case 2 -> "\"" + pick("config", "overrides", "run_id", "epochs=3", "stub.samples=x", "\\u0000", "reason") + "\"";
      case 3 -> "\"" + "z".repeat(random.nextInt(100)) + "\"";
      case 4 -> {
        StringBuilder array = new StringBuilder("[");
        for (int i = random.nextInt(4); i > 0; i--) array.append(randomJson(depth + 1)).append(i > 1 ? "," : "");
        yield array.append(']').toString();
      }
      default -> {
        StringBuilder object = new StringBuilder("{");
        for (int i = random.nextInt(4); i > 0; i--) {
          object.append('"').append(pick("config", "overrides", "run_id", "reason", "x")).append("\":")
              .append(randomJson(depth + 1)).append(i > 1 ? "," : "");
        }
        yield object.append('}').toString();
      }
    };
  }

  @SafeVarargs
  private <T> T pick(T... choices) {
    return choices[random.nextInt(choices.length)];
  }
}
