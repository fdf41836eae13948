package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * The part of a Kubernetes API server that kubernetes-api discovery reads, over HTTPS as in a pod: {@code GET
 * /api/v1/namespaces/NS/pods?labelSelector=k=v,...} answers a PodList of the pods registered here whose labels match,
 * for a request with the service account's bearer token ({@code 401} otherwise), in that token's namespace. It also
 * makes the files a pod's service account mount holds (token, namespace, ca.crt) and the JVM options that point the
 * discovery at them.
 */
final class FakeKubernetesApi implements AutoCloseable {
  static final String NAMESPACE = "quarry-test";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpsServer server;
  private final Path serviceAccount;
  private final String token = UUID.randomUUID().toString();
  private final Map<String, ObjectNode> pods = new LinkedHashMap<>();
  private final AtomicLong podLists = new AtomicLong();

  FakeKubernetesApi(Path dir) throws Exception {
    Path[] stores = TestKeyStores.httpsStores(Files.createDirectories(dir));
    KeyStore keyStore = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(stores[0])) {
      keyStore.load(in, TestKeyStores.PASSWORD.toCharArray());
    }
    KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    keys.init(keyStore, TestKeyStores.PASSWORD.toCharArray());
    SSLContext tls = SSLContext.getInstance("TLS");
    tls.init(keys.getKeyManagers(), null, null);
    serviceAccount = Files.createDirectories(dir.resolve("serviceaccount"));
    Files.writeString(serviceAccount.resolve("token"), token);
    Files.writeString(serviceAccount.resolve("namespace"), NAMESPACE);
    Files.copy(dir.resolve(stores[0].getFileName() + ".crt"), serviceAccount.resolve("ca.crt"));
    server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(tls));
    server.createContext("/", this::handle);
    server.start();
  }

  /** The environment the kubelet gives every pod: where the API server is. */
  Map<String, String> podEnvironment() {
    return Map.of("KUBERNETES_SERVICE_HOST", "127.0.0.1",
        "KUBERNETES_SERVICE_PORT", String.valueOf(server.getAddress().getPort()));
  }

  /** JVM options that put the service account's files where the pods' discovery looks for them. */
  String[] serviceAccountOptions() {
    String prefix = "-Dpekko.discovery.kubernetes-api.";
    return new String[] {prefix + "api-ca-path=" + serviceAccount.resolve("ca.crt"),
        prefix + "api-token-path=" + serviceAccount.resolve("token"),
        prefix + "pod-namespace-path=" + serviceAccount.resolve("namespace")};
  }

  /**
   * A pod now Running at 127.0.0.1 with {@code labels} and one container whose ports are {@code ports} (name to
   * port): what the API server lists once the kubelet has started it.
   */
  synchronized void podRunning(String name, JsonNode labels, Map<String, Integer> ports) {
    ObjectNode pod = JSON.createObjectNode();
    pod.put("apiVersion", "v1").put("kind", "Pod");
    ObjectNode metadata = pod.putObject("metadata");
    metadata.put("name", name).put("namespace", NAMESPACE).put("uid", UUID.randomUUID().toString());
    metadata.set("labels", labels.deepCopy());
    ObjectNode container = pod.putObject("spec").putArray("containers").addObject().put("name", "quarry");
    ArrayNode containerPorts = container.putArray("ports");
    ports.forEach((portName, port) -> containerPorts.addObject().put("name", portName).put("containerPort", port)
        .put("protocol", "TCP"));
    ObjectNode status = pod.putObject("status");
    status.put("phase", "Running").put("podIP", "127.0.0.1").put("hostIP", "127.0.0.1");
    status.putArray("containerStatuses").addObject().put("name", "quarry").putObject("state").putObject("running");
    pods.put(name, pod);
  }

  /** The pod is gone (killed, deleted): the API server no longer lists it. */
  synchronized void podGone(String name) {
    pods.remove(name);
  }

  /** How many pod lists were served: discovery did ask. */
  long podLists() {
    return podLists.get();
  }

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      String path = exchange.getRequestURI().getPath();
      String auth = exchange.getRequestHeaders().getFirst("Authorization");
      if (!("Bearer " + token).equals(auth)) {
        respond(exchange, 401, status("Unauthorized", 401));
        return;
      }
      String prefix = "/api/v1/namespaces/" + NAMESPACE + "/pods";
      if (!exchange.getRequestMethod().equals("GET") || !path.equals(prefix)) {
        respond(exchange, 404, status("the server could not find the requested resource", 404));
        return;
      }
      podLists.incrementAndGet();
      String selector = query(exchange.getRequestURI().getRawQuery()).getOrDefault("labelSelector", "");
      ObjectNode list = JSON.createObjectNode();
      list.put("apiVersion", "v1").put("kind", "PodList");
      list.putObject("metadata").put("resourceVersion", String.valueOf(podLists.get()));
      ArrayNode items = list.putArray("items");
      synchronized (this) {
        for (ObjectNode pod : pods.values()) {
          if (selector.isEmpty() || K8sManifestsTest.matches(selector, pod.at("/metadata/labels"))) items.add(pod);
        }
      }
      respond(exchange, 200, list);
    }
  }

  private static Map<String, String> query(String raw) {
    Map<String, String> parameters = new LinkedHashMap<>();
    if (raw == null) return parameters;
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      if (eq > 0) {
        parameters.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
            URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
      }
    }
    return parameters;
  }

  private static ObjectNode status(String message, int code) {
    ObjectNode status = JSON.createObjectNode();
    status.put("kind", "Status").put("apiVersion", "v1").put("status", "Failure").put("message", message)
        .put("code", code);
    return status;
  }

  private static void respond(HttpExchange exchange, int code, JsonNode body) throws IOException {
    byte[] bytes = JSON.writeValueAsBytes(body);
    exchange.getResponseHeaders().set("Content-Type", "application/json");
    exchange.sendResponseHeaders(code, bytes.length);
    exchange.getResponseBody().write(bytes);
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
