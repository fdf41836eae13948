package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** The clients' side of the coordinator's HTTP API ({@code quarry submit/status/stop/runs}). */
final class ApiClient {
  static final String DEFAULT_URL = "http://127.0.0.1:8080";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** An answer that is not a success: the HTTP status and the API's error message. */
  static final class ApiException extends IOException {
    final int status;

    ApiException(int status, String message) {
      super(message);
      this.status = status;
    }
  }

  private final URI base;
  private final String token;
  private final HttpClient http;

  /** A client of the API at {@code url} that sends no token (the API then answers 401 but for its health). */
  ApiClient(String url) {
    this(url, null, null);
  }

  /**
   * A client of the API at {@code url} that sends {@code token} (none when null) and, for an {@code https} URL, trusts
   * what {@code tls} trusts (the JVM's default trust store when null).
   */
  ApiClient(String url, String token, javax.net.ssl.SSLContext tls) {
    String trimmed = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    if (!trimmed.startsWith("http://") && !trimmed.startsWith("https://")) {
      throw new IllegalArgumentException("--coordinator: '" + url + "' is not an http(s) URL (e.g. " + DEFAULT_URL + ")");
    }
    this.base = URI.create(trimmed);
    this.token = token;
    HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
    if (tls != null) builder.sslContext(tls);
    this.http = builder.build();
  }

  /**
   * The token a client sends: {@code flag} ({@code --token}), else {@code QUARRY_TOKEN}, else the first operate token
   * (or the first token) of the coordinator's token file {@code <runs-dir>/api-token} when it is readable from here
   * ({@code QUARRY_RUNS_DIR}, default {@code runs}); null when there is none.
   */
  static String token(String flag, Map<String, String> env) {
    if (flag != null && !flag.isBlank()) return flag.strip();
    String fromEnv = env.get("QUARRY_TOKEN");
    if (fromEnv != null && !fromEnv.isBlank()) return fromEnv.strip();
    java.nio.file.Path file = java.nio.file.Path.of(env.getOrDefault("QUARRY_RUNS_DIR", "runs")).resolve("api-token");
    if (!java.nio.file.Files.isReadable(file)) return null;
    try {
      String first = null;
      for (String line : java.nio.file.Files.readAllLines(file, StandardCharsets.UTF_8)) {
        String[] words = line.strip().split("\\s+");
        if (words.length != 2 || words[0].startsWith("#")) continue;
        if (words[0].equalsIgnoreCase("operate")) return words[1];
        if (first == null) first = words[1];
      }
      return first;
    } catch (IOException e) {
      return null;
    }
  }

  /** The coordinator URL from the flag, else {@code QUARRY_COORDINATOR}, else the default. */
  static String url(String flag, Map<String, String> env) {
    if (flag != null && !flag.isBlank()) return flag;
    String fromEnv = env.get("QUARRY_COORDINATOR");
    return fromEnv == null || fromEnv.isBlank() ? DEFAULT_URL : fromEnv.trim();
  }

  /** The API's base URL. */
  URI base() {
    return base;
  }

  JsonNode submit(String configHocon, List<String> overrides, String runId) throws IOException, InterruptedException {
    ObjectNode body = JSON.createObjectNode();
    body.put("config", configHocon);
    overrides.forEach(body.putArray("overrides")::add);
    if (runId != null) body.put("run_id", runId);
    return send("POST", "/api/runs", body);
  }

  JsonNode run(String runId) throws IOException, InterruptedException {
    return send("GET", "/api/runs/" + encode(runId), null);
  }

  JsonNode runs() throws IOException, InterruptedException {
    return send("GET", "/api/runs", null);
  }

  JsonNode stop(String runId, String reason) throws IOException, InterruptedException {
    ObjectNode body = JSON.createObjectNode();
    body.put("reason", reason);
    return send("POST", "/api/runs/" + encode(runId) + "/stop", body);
  }

  JsonNode resume(String runId, List<String> overrides) throws IOException, InterruptedException {
    ObjectNode body = JSON.createObjectNode();
    overrides.forEach(body.putArray("overrides")::add);
    return send("POST", "/api/runs/" + encode(runId) + "/resume", body);
  }

  private JsonNode send(String method, String path, JsonNode body) throws IOException, InterruptedException {
    HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(30));
    if (token != null) request.header("Authorization", "Bearer " + token);
    if (body == null) {
      request.method(method, HttpRequest.BodyPublishers.noBody());
    } else {
      request.header("Content-Type", "application/json")
          .method(method, HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
    }
    HttpResponse<String> response;
    try {
      response = http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    } catch (java.net.ConnectException e) {
      throw new ApiException(0, "cannot reach the coordinator at " + base + " (--coordinator or QUARRY_COORDINATOR)");
    } catch (javax.net.ssl.SSLException e) {
      throw new ApiException(0, "no TLS connection to the coordinator at " + base + ": " + e.getMessage()
          + " (a coordinator with a certificate of its own: --trust-store FILE)");
    }
    if (response.statusCode() == 401) {
      throw new ApiException(401, "the coordinator wants an API token: --token, QUARRY_TOKEN, or its token file "
          + "<runs-dir>/api-token when readable here (" + (token == null ? "none was sent" : "the one sent is not known")
          + ")");
    }
    JsonNode answer = response.body().isBlank() ? JSON.createObjectNode() : parse(response.body());
    if (response.statusCode() >= 300) {
      String error = answer.hasNonNull("error") ? answer.get("error").asText() : response.body();
      throw new ApiException(response.statusCode(), error);
    }
    return answer;
  }

  private static JsonNode parse(String text) throws IOException {
    try {
      return JSON.readTree(text);
    } catch (IOException e) {
      throw new IOException("the coordinator answered something that is not JSON: " + text.lines().findFirst().orElse(""));
    }
  }

  private static String encode(String segment) {
    return URLEncoder.encode(segment, StandardCharsets.UTF_8);
  }
}
