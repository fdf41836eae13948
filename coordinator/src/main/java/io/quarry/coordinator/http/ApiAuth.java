package io.quarry.coordinator.http;

import io.quarry.coordinator.http.ApiTokens.Role;
import java.util.Optional;
import java.util.function.Function;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpMethods;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * Who may call the API: a caller with {@code Authorization: Bearer <token>} (the CLI, scripts), or a browser with the
 * dashboard's session cookie ({@link DashboardSessions}). A request that changes something (any method but GET and
 * HEAD) that carries an {@code Origin} must come from this host, and one on a session cookie must carry it: else 403.
 * No known token: 401, the same answer for none, a malformed header, a wrong token and a stale session; a token of a
 * lesser role: 403.
 */
public final class ApiAuth extends AllDirectives {
  static final String UNAUTHORIZED = "missing or unknown API token: send `Authorization: Bearer <token>` with a "
      + "token from the coordinator's token file (quarry coordinator --api-tokens FILE, or <runs-dir>/api-token)";

  private final ApiTokens tokens;
  private final DashboardSessions sessions;

  public ApiAuth(ApiTokens tokens, DashboardSessions sessions) {
    this.tokens = tokens;
    this.sessions = sessions;
  }

  public ApiTokens tokens() {
    return tokens;
  }

  public DashboardSessions sessions() {
    return sessions;
  }

  /** {@code route} for a caller whose token has {@code required} (or more); else 401 or 403 as JSON. */
  public Route as(Role required, Function<ApiTokens.Caller, Route> route) {
    return extractRequest(request -> {
      String origin = header(request, "Origin");
      boolean crossOrigin = changes(request) && !DashboardSessions.sameOrigin(origin, header(request, "Host"));
      if (crossOrigin && origin != null) return complete(crossOriginRefused(request));
      Optional<ApiTokens.Caller> caller = tokens.caller(bearer(header(request, "Authorization")));
      if (caller.isEmpty()) {
        caller = sessions.caller(cookie(request));
        if (caller.isPresent() && crossOrigin) return complete(crossOriginRefused(request));
      }
      if (caller.isEmpty()) {
        return complete(ApiJson.error(StatusCodes.UNAUTHORIZED, UNAUTHORIZED)
            .addHeader(HttpHeader.parse("WWW-Authenticate", "Bearer realm=\"quarry\"")));
      }
      if (!caller.get().role().allows(required)) {
        return complete(ApiJson.error(StatusCodes.FORBIDDEN, "this token has the " + caller.get().role().fileName()
            + " role; this needs an " + required.fileName() + " token (submitting and stopping runs)"));
      }
      return route.apply(caller.get());
    });
  }

  private static org.apache.pekko.http.javadsl.model.HttpResponse crossOriginRefused(HttpRequest request) {
    return ApiJson.error(StatusCodes.FORBIDDEN, "a " + request.method().name() + " from another site is refused: "
        + "the Origin header must be this host (the dashboard's own pages), or send no Origin and a bearer token");
  }

  /** Who the request speaks for, by bearer token or session cookie, with no check of its origin. */
  public Optional<ApiTokens.Caller> caller(HttpRequest request) {
    Optional<ApiTokens.Caller> bearer = tokens.caller(bearer(header(request, "Authorization")));
    return bearer.isPresent() ? bearer : sessions.caller(cookie(request));
  }

  /** The session cookie's value, or null. */
  public static String cookie(HttpRequest request) {
    for (HttpHeader header : request.getHeaders()) {
      if (!header.is("cookie")) continue;
      for (String pair : header.value().split(";")) {
        int eq = pair.indexOf('=');
        if (eq > 0 && pair.substring(0, eq).strip().equals(DashboardSessions.COOKIE)) return pair.substring(eq + 1).strip();
      }
    }
    return null;
  }

  /** The token of an {@code Authorization: Bearer <token>} header, or null. */
  static String bearer(String header) {
    if (header == null) return null;
    String value = header.strip();
    if (value.length() < 7 || !value.regionMatches(true, 0, "Bearer ", 0, 7)) return null;
    String token = value.substring(7).strip();
    return token.isEmpty() ? null : token;
  }

  private static boolean changes(HttpRequest request) {
    return !request.method().equals(HttpMethods.GET) && !request.method().equals(HttpMethods.HEAD);
  }

  private static String header(HttpRequest request, String name) {
    return request.getHeader(name).map(HttpHeader::value).orElse(null);
  }
}
