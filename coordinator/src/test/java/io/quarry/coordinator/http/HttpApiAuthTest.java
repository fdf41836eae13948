package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Who may do what: every endpoint without a token, with a wrong one, with a {@code read} token and with an
 * {@code operate} token; the ShadowRay request (an unauthenticated run of any program) refused; the health check that
 * tells a stranger only that the coordinator is up; the submission rate limit.
 */
@Timeout(120)
class HttpApiAuthTest extends HttpApiFixture {
  /** Low, so that the limit is reached in a test. */
  private static final int SUBMISSIONS_PER_MINUTE = 5;

  private static final String SHADOW_RAY_BODY = "{\"config\": \"trainer = process\\nprocess.command = "
      + "[\\\"/bin/sh\\\", \\\"-c\\\", \\\"touch /tmp/quarry-shadowray-pwned\\\"]\"}";

  private ApiClient anonymous;
  private ApiClient wrong;
  private ApiClient reader;

  @Override
  Config extraConfig() {
    return ConfigFactory.parseString("quarry.http.submissions-per-minute = " + SUBMISSIONS_PER_MINUTE);
  }

  @BeforeAll
  void clients() throws Exception {
    anonymous = api.withToken(null);
    wrong = api.withToken("not-a-token-of-this-coordinator-0123456789");
    reader = api.withToken(READ_TOKEN);
    awaitState(submit("{\"run_id\": \"existing\", \"overrides\": [\"stub.samples=20\"]}"), "completed");
  }

  private record Call(String method, String path, String body) {}

  private static final List<Call> READS = List.of(
      new Call("GET", "/api/runs", null), new Call("GET", "/api/runs/existing", null), new Call("GET", "/api/workers", null),
      new Call("GET", "/metrics", null));
  private static final List<Call> OPERATES = List.of(
      new Call("POST", "/api/runs", "{\"overrides\": [\"stub.samples=20\"]}"),
      new Call("POST", "/api/runs/existing/stop", "{}"));

  private static ApiClient.Answer call(ApiClient client, Call call) throws Exception {
    return call.body() == null ? client.get(call.path()) : client.post(call.path(), call.body());
  }

  @Test
  void everyEndpointButHealthNeedsAKnownTokenAndSaysTheSameForNoneAndAWrongOne() throws Exception {
    for (Call call : concat(READS, OPERATES)) {
      ApiClient.Answer none = call(anonymous, call);
      ApiClient.Answer bad = call(wrong, call);
      assertEquals(401, none.status(), call + ": " + none.body());
      assertEquals(401, bad.status(), call + ": " + bad.body());
      assertEquals(none.body(), bad.body(), "no hint whether a token was sent or wrong");
      assertTrue(none.error().contains("Authorization: Bearer"), none.body());
      assertEquals("Bearer realm=\"quarry\"", none.response().headers().firstValue("WWW-Authenticate").orElse(""));
    }
  }

  @Test
  void aReadTokenReadsButNeitherSubmitsNorStops() throws Exception {
    for (Call call : READS) assertEquals(200, call(reader, call).status(), call.toString());
    for (Call call : OPERATES) {
      ApiClient.Answer answer = call(reader, call);
      assertEquals(403, answer.status(), call + ": " + answer.body());
      assertTrue(answer.error().contains("read role") && answer.error().contains("operate token"), answer.body());
    }
  }

  @Test
  void aReadTokenScrapesTheMetricsInPrometheusTextFormat() throws Exception {
    ApiClient.Answer metrics = reader.get("/metrics");
    assertEquals(200, metrics.status(), metrics.body());
    assertTrue(metrics.contentType().startsWith("text/plain; version=0.0.4"), metrics.contentType());
    assertTrue(metrics.body().contains("quarry_runs{state=\"completed\"}"), metrics.body());
    assertTrue(metrics.body().contains("quarry_workers{state=\"idle\"}"), metrics.body());
    assertEquals(401, anonymous.get("/metrics").status());
  }

  @Test
  void anOperateTokenDoesEverything() throws Exception {
    for (Call call : READS) assertEquals(200, call(api, call).status(), call.toString());
    assertEquals(201, api.post("/api/runs", "{\"run_id\": \"by-operator\", \"overrides\": [\"stub.samples=20\"]}").status());
    assertEquals(409, api.post("/api/runs/existing/stop", "{}").status(), "allowed, but the run has ended already");
  }

  @Test
  void malformedAuthorizationHeadersAreNoToken() throws Exception {
    // (Pekko's header parser reads "Bearer<token>" without the blank as a bearer token too; the token must still match.)
    for (String header : List.of("Bearer", "Bearer ", "Basic " + OPERATE_TOKEN, OPERATE_TOKEN,
        "Bearer " + OPERATE_TOKEN.substring(1), "Bearer " + OPERATE_TOKEN + "x", "Bearer " + READ_TOKEN.toUpperCase())) {
      ApiClient.Answer answer = api.withToken(null).withHeader("Authorization", header).get("/api/runs");
      assertEquals(401, answer.status(), "'" + header + "': " + answer.body());
      assertFalse(answer.body().contains("\"runs\""), answer.body());
    }
    assertEquals(200, api.withToken(null).withHeader("Authorization", "bearer   " + OPERATE_TOKEN).get("/api/runs").status(),
        "the scheme is case-insensitive, blanks around the token do not matter");
  }

  @Test
  void theShadowRayRequestIsRefusedAndRunsNothing() throws Exception {
    int runsBefore = api.get("/api/runs").json().get("runs").size();
    ApiClient.Answer answer = anonymous.post("/api/runs", SHADOW_RAY_BODY);
    assertEquals(401, answer.status(), answer.body());
    assertEquals(runsBefore, api.get("/api/runs").json().get("runs").size(), "no run was created");
    assertFalse(Files.exists(java.nio.file.Path.of("/tmp/quarry-shadowray-pwned")));
  }

  @Test
  void theShadowRayRequestWithAnOperateTokenIsRefusedBecauseNoWorkerAllowsTheProgram() throws Exception {
    int runsBefore = api.get("/api/runs").json().get("runs").size();
    ApiClient.Answer answer = api.post("/api/runs", SHADOW_RAY_BODY);
    assertEquals(400, answer.status(), answer.body());
    assertTrue(answer.error().contains("program '/bin/sh'") && answer.error().contains("allowed on none of the")
        && answer.error().contains("--allow-program"), answer.body());
    assertEquals(runsBefore, api.get("/api/runs").json().get("runs").size(), "no run was created");
  }

  @Test
  void healthTellsAStrangerOnlyThatTheCoordinatorIsUp() throws Exception {
    ApiClient.Answer stranger = anonymous.get("/api/health");
    assertEquals(200, stranger.status());
    assertEquals("{\"status\":\"ok\"}", stranger.body());
    ApiClient.Answer holder = reader.get("/api/health");
    assertEquals(200, holder.status());
    assertEquals(WORKERS, holder.json().get("workers").asInt(), holder.body());
    assertTrue(holder.json().has("active_runs"), holder.body());
  }

  @Test
  void submissionsPastTheLimitOfOneTokenAreAnswered429WithWhenToRetry() throws Exception {
    // A token of its own, so that this class's other submissions do not share its minute's budget.
    ApiClient second = api.withToken(SECOND_OPERATE_TOKEN);
    int accepted = 0;
    ApiClient.Answer answer;
    do {
      answer = second.post("/api/runs", "{\"overrides\": [\"stub.samples=20\"]}");
      if (answer.status() == 201) accepted++;
    } while (answer.status() == 201 && accepted <= SUBMISSIONS_PER_MINUTE);
    assertEquals(429, answer.status(), answer.body());
    assertEquals(SUBMISSIONS_PER_MINUTE, accepted, "the whole budget, then refused");
    assertTrue(answer.error().contains("quarry.http.submissions-per-minute") && answer.error().contains("try again in"),
        answer.body());
    // Another token's budget is its own: the read token is refused for its role, not for the limit.
    assertEquals(403, reader.post("/api/runs", "{\"overrides\": [\"stub.samples=20\"]}").status());
  }

  private static List<Call> concat(List<Call> a, List<Call> b) {
    List<Call> all = new java.util.ArrayList<>(a);
    all.addAll(b);
    return all;
  }
}
