package io.quarry.coordinator.http;

import java.net.URI;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * The dashboard's logins: a person pastes an API token into the login form once and gets a session, an opaque random
 * id in an HttpOnly, SameSite=Strict cookie, so that the token itself is never kept by the browser nor readable by a
 * script. A session holds the token it was opened with and is worth what that token is worth at each request: a
 * token revoked in the tokens file ends its sessions at once. Sessions end after {@code ttl}, at logout, or with the
 * process (they live in memory only). At most {@value #MAX_SESSIONS} are open; past it the oldest goes first.
 */
public final class DashboardSessions {
  /** The session cookie's name. */
  public static final String COOKIE = "quarry_session";

  static final int MAX_SESSIONS = 10_000;

  private record Session(String token, long expiresAtMs, long openedAtMs) {}

  private final ApiTokens tokens;
  private final long ttlMs;
  private final LongSupplier clockMs;
  private final SecureRandom random = new SecureRandom();
  private final Map<String, Session> sessions = new ConcurrentHashMap<>();

  public DashboardSessions(ApiTokens tokens, Duration ttl) {
    this(tokens, ttl, System::currentTimeMillis);
  }

  DashboardSessions(ApiTokens tokens, Duration ttl, LongSupplier clockMs) {
    this.tokens = tokens;
    this.ttlMs = ttl.toMillis();
    this.clockMs = clockMs;
  }

  /** The tokens sessions are opened with. */
  public ApiTokens tokens() {
    return tokens;
  }

  /** How long a session lasts, in seconds (the cookie's Max-Age). */
  public long ttlSeconds() {
    return ttlMs / 1000;
  }

  /** A new session for {@code token} when the tokens file holds it: its id (the cookie's value); else empty. */
  public Optional<String> open(String token) {
    if (token == null || token.isBlank() || tokens.caller(token.strip()).isEmpty()) return Optional.empty();
    long now = clockMs.getAsLong();
    if (sessions.size() >= MAX_SESSIONS) evict(now);
    byte[] bytes = new byte[32];
    random.nextBytes(bytes);
    String id = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    sessions.put(id, new Session(token.strip(), now + ttlMs, now));
    return Optional.of(id);
  }

  /** Who the session {@code id} speaks for, while it lasts and its token is still known. */
  public Optional<ApiTokens.Caller> caller(String id) {
    if (id == null) return Optional.empty();
    Session session = sessions.get(id);
    if (session == null) return Optional.empty();
    if (clockMs.getAsLong() >= session.expiresAtMs()) {
      sessions.remove(id);
      return Optional.empty();
    }
    return tokens.caller(session.token());
  }

  /** Ends the session {@code id} (logout); nothing when there is none. */
  public void close(String id) {
    if (id != null) sessions.remove(id);
  }

  /** Open sessions (tests). */
  int open() {
    return sessions.size();
  }

  private void evict(long now) {
    sessions.values().removeIf(session -> now >= session.expiresAtMs());
    while (sessions.size() >= MAX_SESSIONS) {
      String oldest = null;
      long oldestAt = Long.MAX_VALUE;
      for (Iterator<Map.Entry<String, Session>> it = sessions.entrySet().iterator(); it.hasNext(); ) {
        Map.Entry<String, Session> entry = it.next();
        if (entry.getValue().openedAtMs() < oldestAt) {
          oldestAt = entry.getValue().openedAtMs();
          oldest = entry.getKey();
        }
      }
      if (oldest == null) return;
      sessions.remove(oldest);
    }
  }

  /**
   * True when a browser's {@code Origin} header names the host the request was sent to ({@code Host}): a form or a
   * script of another site cannot post with the session cookie (SameSite=Strict already keeps it from being sent;
   * this holds even for a browser that ignores SameSite). A request without an Origin is refused: browsers send one
   * with every POST. Scheme is not compared, so a TLS-terminating proxy in front changes nothing.
   */
  public static boolean sameOrigin(String origin, String host) {
    if (origin == null || host == null || origin.isBlank() || "null".equals(origin.strip())) return false;
    try {
      URI uri = URI.create(origin.strip());
      if (uri.getHost() == null) return false;
      String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
      int port = uri.getPort();
      String authority = uri.getHost().toLowerCase(Locale.ROOT) + (port < 0 ? "" : ":" + port);
      String expected = host.strip().toLowerCase(Locale.ROOT);
      if (authority.equals(expected)) return true;
      // Host without its default port, Origin with it (or the other way round).
      String defaultPort = scheme.equals("https") ? ":443" : ":80";
      return (authority + defaultPort).equals(expected) || authority.equals(expected + defaultPort);
    } catch (IllegalArgumentException e) {
      return false;
    }
  }
}
