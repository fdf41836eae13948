package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The dashboard's login and what a session cookie may do: pages ask for a token without one, a login with a known
 * token opens an HttpOnly, SameSite=Strict session, a session reads the API, and a change made with a session must
 * come from this host (Origin), as must a login; a foreign Origin is refused even with a bearer token.
 */
class DashboardAuthTest extends HttpApiFixture {
  private final HttpClient http = HttpClient.newHttpClient();

  private String base() {
    return "http://127.0.0.1:" + binding.localAddress().getPort();
  }

  private HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  private HttpRequest.Builder request(String path) {
    return HttpRequest.newBuilder(URI.create(base() + path));
  }

  /** Logs in with {@code token} through the form; returns the session cookie's Set-Cookie header. */
  private HttpResponse<String> login(String token, String origin) throws Exception {
    HttpRequest.Builder request = request("/login").header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString("token=" + URLEncoder.encode(token, StandardCharsets.UTF_8) + "&next=%2Fcluster"));
    if (origin != null) request.header("Origin", origin);
    return send(request);
  }

  private String session(String token) throws Exception {
    HttpResponse<String> response = login(token, base());
    assertEquals(303, response.statusCode(), response.body());
    String cookie = response.headers().firstValue("Set-Cookie").orElseThrow();
    return cookie.substring(0, cookie.indexOf(';'));
  }

  @Test
  void aPageWithoutALoginIsTheLoginForm() throws Exception {
    HttpResponse<String> page = send(request("/"));
    assertEquals(401, page.statusCode());
    assertTrue(page.body().contains("id=\"login-form\""), page.body());
    assertTrue(page.headers().firstValue("Content-Security-Policy").orElse("").contains("default-src 'self'"));
    HttpResponse<String> data = send(request("/api/dash/runs"));
    assertEquals(401, data.statusCode());
  }

  @Test
  void aLoginWithAKnownTokenOpensAStrictHttpOnlySession() throws Exception {
    HttpResponse<String> response = login(READ_TOKEN, base());
    assertEquals(303, response.statusCode(), response.body());
    assertEquals("/cluster", response.headers().firstValue("Location").orElse(null));
    String cookie = response.headers().firstValue("Set-Cookie").orElseThrow();
    assertTrue(cookie.startsWith(DashboardSessions.COOKIE + "="), cookie);
    assertTrue(cookie.contains("HttpOnly"), cookie);
    assertTrue(cookie.contains("SameSite=Strict"), cookie);
    assertTrue(!cookie.contains(READ_TOKEN), "the cookie is not the token");
    String session = cookie.substring(0, cookie.indexOf(';'));

    assertEquals(200, send(request("/").header("Cookie", session)).statusCode());
    HttpResponse<String> runs = send(request("/api/runs").header("Cookie", session));
    assertEquals(200, runs.statusCode(), runs.body());
  }

  @Test
  void anUnknownTokenGoesBackToTheFormSayingSo() throws Exception {
    HttpResponse<String> response = login("not-a-known-token-0123456789abcdef", base());
    assertEquals(303, response.statusCode());
    assertTrue(response.headers().firstValue("Location").orElse("").startsWith("/login?failed=1"));
    assertTrue(response.headers().firstValue("Set-Cookie").isEmpty());
  }

  @Test
  void aLoginFromAnotherSiteIsRefused() throws Exception {
    assertEquals(403, login(OPERATE_TOKEN, "https://evil.example").statusCode());
    assertEquals(403, login(OPERATE_TOKEN, null).statusCode());
  }

  @Test
  void aChangeWithASessionMustComeFromThisHost() throws Exception {
    String session = session(OPERATE_TOKEN);
    HttpRequest.Builder stop = request("/api/runs/nope/stop").header("Cookie", session)
        .POST(HttpRequest.BodyPublishers.ofString("{}"));
    assertEquals(403, send(stop).statusCode(), "no Origin");
    HttpResponse<String> foreign = send(request("/api/runs/nope/stop").header("Cookie", session)
        .header("Origin", "http://evil.example").POST(HttpRequest.BodyPublishers.ofString("{}")));
    assertEquals(403, foreign.statusCode(), foreign.body());
    HttpResponse<String> own = send(request("/api/runs/nope/stop").header("Cookie", session)
        .header("Origin", base()).POST(HttpRequest.BodyPublishers.ofString("{}")));
    assertEquals(404, own.statusCode(), own.body());
    HttpResponse<String> bearerForeign = send(request("/api/runs/nope/stop").header("Authorization", "Bearer " + OPERATE_TOKEN)
        .header("Origin", "http://evil.example").POST(HttpRequest.BodyPublishers.ofString("{}")));
    assertEquals(403, bearerForeign.statusCode(), bearerForeign.body());
  }

  @Test
  void aReadSessionCannotStop() throws Exception {
    String session = session(READ_TOKEN);
    HttpResponse<String> response = send(request("/api/runs/nope/stop").header("Cookie", session)
        .header("Origin", base()).POST(HttpRequest.BodyPublishers.ofString("{}")));
    assertEquals(403, response.statusCode(), response.body());
  }

  @Test
  void logoutEndsTheSession() throws Exception {
    String session = session(OPERATE_TOKEN);
    HttpResponse<String> out = send(request("/logout").header("Cookie", session).header("Origin", base())
        .POST(HttpRequest.BodyPublishers.noBody()));
    assertEquals(303, out.statusCode());
    assertNotNull(out.headers().firstValue("Set-Cookie").orElse(null));
    assertEquals(401, send(request("/api/runs").header("Cookie", session)).statusCode());
  }

  @Test
  void assetsAndUplotComeFromTheJar() throws Exception {
    HttpResponse<String> uplot = send(request("/assets/vendor/uPlot.iife.min.js"));
    assertEquals(200, uplot.statusCode());
    assertTrue(uplot.body().contains("uPlot"));
    assertEquals(200, send(request("/assets/app.js")).statusCode());
    assertEquals(404, send(request("/assets/../index.html")).statusCode());
  }
}
