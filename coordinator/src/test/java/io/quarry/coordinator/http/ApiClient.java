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

  ApiClient(String host, int port) {
    this.base = "http://" + host + ":" + port;
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
    return HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30));
  }

  private Answer send(HttpRequest request) throws IOException, InterruptedException {
    HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
    JsonNode json = response.body().isEmpty() ? JSON.missingNode() : JSON.readTree(response.body());
    return new Answer(response.statusCode(), response.body(), json, response);
  }
}
