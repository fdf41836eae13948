package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad requests: each is answered 4xx with a JSON error that names the problem, and nothing stored changes — the
 * run list and every byte under the runs directory are the same after the request as before it.
 */
@Timeout(120)
class HttpApiBadInputTest extends HttpApiFixture {

  @BeforeAll
  void oneCompletedRun() throws Exception {
    // Something stored that a bad request could disturb.
    awaitState(submit("{\"run_id\": \"kept\", \"overrides\": [\"stub.samples=100\"]}"), "completed");
  }

  static Stream<Arguments> badRequests() {
    return Stream.of(
        bad("malformed JSON", "POST", "/api/runs", "{\"config\": \"epochs = 3\",", 400,
            "malformed JSON at line 1, column 25: Unexpected end-of-input"),
        bad("not an object", "POST", "/api/runs", "[\"epochs=3\"]", 400,
            "the body must be a JSON object with the fields [config, overrides, run_id], not an array"),
        bad("unknown JSON field", "POST", "/api/runs", "{\"epochs\": 3}", 400,
            "unknown field 'epochs'; allowed: config, overrides, run_id"),
        bad("duplicate JSON field", "POST", "/api/runs", "{\"run_id\": \"a\", \"run_id\": \"b\"}", 400,
            "malformed JSON at line 1, column 25: Duplicate field 'run_id'"),
        bad("unknown config key in an override", "POST", "/api/runs", "{\"overrides\": [\"epoch=3\"]}", 400,
            runConfigError(() -> RunConfig.fromOverrides(List.of("epoch=3"), Map.of()))),
        bad("unknown config key in the HOCON", "POST", "/api/runs", "{\"config\": \"hard-examples { kk = 5 }\"}", 400,
            runConfigError(() -> RunConfig.parse("hard-examples { kk = 5 }"))),
        bad("out-of-range value", "POST", "/api/runs", "{\"overrides\": [\"hard-examples.k=0\"]}", 400,
            runConfigError(() -> RunConfig.fromOverrides(List.of("hard-examples.k=0"), Map.of()))),
        bad("wrong value type in the config", "POST", "/api/runs", "{\"config\": \"epochs = three\"}", 400,
            runConfigError(() -> RunConfig.parse("epochs = three"))),
        bad("an include in the config text (it would be read on the coordinator, or silently skipped)", "POST",
            "/api/runs", "{\"config\": \"include \\\"/etc/quarry/base.conf\\\"\\nepochs = 2\"}", 400,
            runConfigError(() -> RunConfig.parse("include \"/etc/quarry/base.conf\"\nepochs = 2"))),
        bad("wrong JSON type: overrides a string", "POST", "/api/runs", "{\"overrides\": \"epochs=3\"}", 400,
            "field 'overrides' must be an array of strings like [\"epochs=3\"], not the string \"epochs=3\""),
        bad("wrong JSON type: an override a number", "POST", "/api/runs", "{\"overrides\": [\"epochs=3\", 7]}", 400,
            "field 'overrides[1]' must be a string like [\"epochs=3\"], not the number 7"),
        bad("wrong JSON type: config an object", "POST", "/api/runs", "{\"config\": {\"epochs\": 3}}", 400,
            "field 'config' must be a string, not an object"),
        bad("run id that is not a directory name", "POST", "/api/runs", "{\"run_id\": \"../escape\"}", 400,
            "field 'run_id': '../escape' is not allowed; use 1-128 letters, digits, '.', '_' or '-', not starting with '.'"),
        bad("more shards than samples (the coordinator's own check)", "POST", "/api/runs",
            "{\"overrides\": [\"shards=8\", \"stub.samples=4\"]}", 400,
            "config key 'shards': 8 shards for a dataset of 4 samples; allowed: at most one shard per sample"),
        bad("taken run id", "POST", "/api/runs", "{\"run_id\": \"kept\"}", 409,
            "a run with id 'kept' exists already"),
        bad("unknown run id", "GET", "/api/runs/nope", null, 404, "no run with id 'nope'"),
        bad("stop of an unknown run id", "POST", "/api/runs/nope/stop", "", 404, "no run with id 'nope'"),
        bad("stop with an unknown field", "POST", "/api/runs/kept/stop", "{\"why\": \"x\"}", 400,
            "unknown field 'why'; allowed: reason"),
        bad("unknown endpoint", "GET", "/api/jobs", null, 404, "no endpoint GET /api/jobs; the endpoints are: "),
        bad("method not allowed", "DELETE", "/api/runs/kept", null, 405,
            "method DELETE is not allowed on /api/runs/kept; allowed: GET"),
        bad("body over the size limit", "POST", "/api/runs",
            "{\"config\": \"#" + "x".repeat(2 * 1024 * 1024) + "\"}", 413,
            "request body larger than 1048576 bytes (quarry.http.max-body-size)"));
  }

  private static Arguments bad(String what, String method, String path, String body, int status, String error) {
    return Arguments.of(what, method, path, body, status, error);
  }

  private static String runConfigError(org.junit.jupiter.api.function.Executable parse) {
    return assertThrows(RunConfigException.class, parse).getMessage();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badRequests")
  void isRefusedWithAJsonErrorAndChangesNothing(
      String what, String method, String path, String body, int status, String error) throws Exception {
    String runsBefore = api.get("/api/runs").body();
    Map<String, String> filesBefore = snapshot(runsDir);

    ApiClient.Answer answer = body == null ? api.method(method, path) : api.post(path, body);

    assertEquals(status, answer.status(), answer.body());
    assertTrue(answer.contentType().startsWith("application/json"), answer.contentType());
    assertTrue(answer.error() != null && answer.error().startsWith(error),
        () -> "expected an error starting with <" + error + ">, got " + answer.body());
    assertEquals(runsBefore, api.get("/api/runs").body(), "the run list is unchanged");
    assertEquals(filesBefore, snapshot(runsDir), "the runs directory is unchanged");
  }

  @Test
  void methodNotAllowedNamesTheAllowedMethodsInTheAllowHeader() throws Exception {
    ApiClient.Answer answer = api.method("PUT", "/api/runs");
    assertEquals(405, answer.status());
    assertEquals("method PUT is not allowed on /api/runs; allowed: GET, POST", answer.error());
    String allow = answer.response().headers().firstValue("Allow").orElse("");
    assertTrue(allow.contains("GET") && allow.contains("POST"), allow);
  }

  /** Every file and directory under {@code root}, relative path to content (Base64; "dir" for a directory). */
  private static Map<String, String> snapshot(Path root) throws IOException {
    Map<String, String> files = new TreeMap<>();
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path path : (Iterable<Path>) paths::iterator) {
        String name = root.relativize(path).toString();
        files.put(name, Files.isDirectory(path) ? "dir" : Base64.getEncoder().encodeToString(Files.readAllBytes(path)));
      }
    }
    return files;
  }
}
