package io.quarry.coordinator.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** A JSON client of the API for tests, on java.net.http. */
final class ApiClient {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One answer: status, body as text and as JSON, and the response for its headers. */
  record Answer(int status, String body, JsonNode json, HttpResponse<String> response) {
    String error() {
      return json.path("error").asText(null);
    }

    String contentType() {
      return response.headers().firstValue("Content-Type").orElse("");
    }
  }

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  private final String base;
  /** The Authorization header's value, or null to send none. */
  private final String authorization;

  /** A client that sends no token. */
  ApiClient(String host, int port) {
    this(host, port, null);
  }

  /** A client that sends {@code token} as a bearer token (none when null). */
  ApiClient(String host, int port, String token) {
    this.base = "http://" + host + ":" + port;
    this.authorization = token == null ? null : "Bearer " + token;
  }

  /** The same API with another token (none when null). */
  ApiClient withToken(String token) {
    return new ApiClient(java.net.URI.create(base).getHost(), java.net.URI.create(base).getPort(), token);
  }

  /** The same API with the Authorization header exactly {@code value} ({@code name} must be Authorization). */
  ApiClient withHeader(String name, String value) {
    if (!name.equals("Authorization")) throw new IllegalArgumentException("only Authorization: " + name);
    return new ApiClient(base, value);
  }

  private ApiClient(String base, String authorization) {
    this.base = base;
    this.authorization = authorization;
  }

  Answer get(String path) throws IOException, InterruptedException {
    return send(request(path).GET().build());
  }

  Answer post(String path, String body) throws IOException, InterruptedException {
    return send(request(path).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build());
  }

  Answer method(String method, String path) throws IOException, InterruptedException {
    return send(request(path).method(method, HttpRequest.BodyPublishers.noBody()).build());
  }

  private HttpRequest.Builder request(String path) {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30));
    if (authorization != null) request.header("Authorization", authorization);
    return request;
  }

  private Answer send(HttpRequest request) throws IOException, InterruptedException {
    HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
    boolean isJson = response.headers().firstValue("Content-Type").orElse("").startsWith("application/json");
    JsonNode json = response.body().isEmpty() || !isJson ? JSON.missingNode() : JSON.readTree(response.body());
    return new Answer(response.statusCode(), response.body(), json, response);
  }
}
