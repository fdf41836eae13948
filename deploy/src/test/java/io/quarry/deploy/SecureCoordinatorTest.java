package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A coordinator node as a user starts it, in its own JVM: with no options its API listens on 127.0.0.1 only and
 * needs the token it writes to {@code <runs-dir>/api-token} (mode 0600), which the clients find there; over HTTPS with
 * a key store; and without authentication on every interface only with a warning. The clients run as a user runs them.
 */
@Timeout(180)
class SecureCoordinatorTest extends CliCapture {
  @TempDir Path dir;
  private NodeProcesses nodes;

  @AfterEach
  void killEverything() {
    if (nodes != null) nodes.close();
  }

  private int startCoordinator(String name, Map<String, String> env, String... extra) throws Exception {
    int http = NodeProcesses.freePort();
    List<String> args = new java.util.ArrayList<>(List.of("coordinator", "--port", "" + NodeProcesses.freePort(),
        "--http-port", "" + http, "--runs-dir", dir.resolve("runs").toString()));
    args.addAll(List.of(extra));
    nodes.start(name, env, args.toArray(new String[0]));
    nodes.awaitLog(name, "quarry coordinator node up", Duration.ofSeconds(60));
    return http;
  }

  @Test
  void byDefaultTheApiListensOnLoopbackOnlyAndWantsTheTokenItWrote() throws Exception {
    nodes = new NodeProcesses(dir.resolve("logs"));
    int http = startCoordinator("coordinator", Map.of());

    assertEquals(List.of("127.0.0.1"), listeners(http), "the API's listening sockets");
    Path tokenFile = dir.resolve("runs/api-token");
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(tokenFile)));
    assertTrue(nodes.logText("coordinator").contains("API tokens in " + tokenFile.toAbsolutePath()),
        nodes.logText("coordinator"));
    String token = ApiClient.token(null, Map.of("QUARRY_RUNS_DIR", dir.resolve("runs").toString()));
    assertFalse(nodes.logText("coordinator").contains(token), "the token is never logged");

    String url = "http://127.0.0.1:" + http;
    assertEquals(QuarryCli.EXIT_USAGE, QuarryCli.run("runs", "--coordinator", url), "no token: " + stderr());
    assertTrue(stderr().contains("the coordinator wants an API token"), stderr());
    assertEquals(QuarryCli.EXIT_COMPLETED, QuarryCli.run("runs", "--coordinator", url, "--token", token), stderr());
    assertEquals(QuarryCli.EXIT_USAGE, QuarryCli.run("runs", "--coordinator", url, "--token", token + "x"));
  }

  @Test
  void overHttpsWithAKeyStoreTheClientTrustsWhatItIsToldTo() throws Exception {
    nodes = new NodeProcesses(dir.resolve("logs"));
    Path[] stores = TestKeyStores.httpsStores(Files.createDirectories(dir.resolve("keys")));
    int http = startCoordinator("coordinator", Map.of("QUARRY_HTTP_KEYSTORE_PASSWORD", TestKeyStores.PASSWORD),
        "--http-keystore", stores[0].toString());
    String token = ApiClient.token(null, Map.of("QUARRY_RUNS_DIR", dir.resolve("runs").toString()));
    assertTrue(nodes.logText("coordinator").contains("HTTP API on https://127.0.0.1:" + http), nodes.logText("coordinator"));

    ApiClient trusting = new ApiClient("https://127.0.0.1:" + http, token,
        TlsFiles.client(stores[1], TestKeyStores.PASSWORD.toCharArray(), "--trust-store"));
    assertTrue(trusting.runs().has("runs"));

    ApiClient.ApiException untrusted = org.junit.jupiter.api.Assertions.assertThrows(ApiClient.ApiException.class,
        () -> new ApiClient("https://127.0.0.1:" + http, token, null).runs());
    assertTrue(untrusted.getMessage().contains("no TLS connection") && untrusted.getMessage().contains("--trust-store"),
        untrusted.getMessage());
    // Plain HTTP to the HTTPS port gets no answer the client mistakes for one.
    org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
        () -> new ApiClient("http://127.0.0.1:" + http, token, null).runs());
  }

  @Test
  void withoutAuthenticationOnEveryInterfaceItWarnsAtStart() throws Exception {
    nodes = new NodeProcesses(dir.resolve("logs"));
    int http = startCoordinator("coordinator", Map.of(), "--insecure-no-auth", "--http-host", "0.0.0.0");
    String log = nodes.logText("coordinator");
    assertTrue(log.contains("WARNING: the HTTP API on 0.0.0.0:" + http + " takes requests WITHOUT a token")
        && log.contains("anyone who can reach it can submit runs"), log);
    assertEquals(List.of("0.0.0.0"), listeners(http));
    assertTrue(new ApiClient("http://127.0.0.1:" + http).runs().has("runs"), "no token needed");
  }

  /** The local addresses of the TCP sockets listening on {@code port}, from /proc/net/tcp and tcp6. */
  private static List<String> listeners(int port) throws Exception {
    List<String> addresses = new java.util.ArrayList<>();
    String hexPort = String.format(":%04X", port);
    for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
      if (!Files.exists(Path.of(table))) continue;
      for (String line : Files.readAllLines(Path.of(table)).subList(1, Files.readAllLines(Path.of(table)).size())) {
        String[] fields = line.trim().split("\\s+");
        if (!fields[3].equals("0A") || !fields[1].endsWith(hexPort)) continue; // 0A: LISTEN
        String hex = fields[1].substring(0, fields[1].indexOf(':'));
        byte[] raw = HexFormat.of().parseHex(hex);
        byte[] address = new byte[raw.length];
        // /proc prints each 32-bit word in host (little-endian) order.
        for (int word = 0; word < raw.length; word += 4) {
          for (int i = 0; i < 4; i++) address[word + i] = raw[word + 3 - i];
        }
        String text = java.net.InetAddress.getByAddress(address).getHostAddress();
        addresses.add(text.equals("0:0:0:0:0:0:0:0") ? "0.0.0.0" : text.equals("0:0:0:0:0:0:0:1") ? "127.0.0.1" : text);
      }
    }
    return addresses.stream().distinct().toList();
  }
}
