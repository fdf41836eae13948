package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Predicate;

/**
 * The cluster of k8s/overlays/cpu without Kubernetes: its pods started by a {@link Kubelet} from the rendered
 * manifests, finding each other through a {@link FakeKubernetesApi}; the run store is an SQLite file on the runs
 * volume (the overlay's PostgreSQL is a server this test does not run), the API tokens a Secret made here.
 */
final class KubernetesCluster implements AutoCloseable {
  final Path dir;
  final FakeKubernetesApi api;
  final NodeProcesses nodes;
  final Kubelet kubelet;
  final List<JsonNode> objects;
  final String token = UUID.randomUUID().toString();

  KubernetesCluster(Path dir) throws Exception {
    this.dir = dir;
    this.objects = Manifests.render("overlays/cpu");
    this.api = new FakeKubernetesApi(dir.resolve("api"));
    this.nodes = new NodeProcesses(dir.resolve("logs")).withJvmOptions(api.serviceAccountOptions());
    this.kubelet = new Kubelet(nodes, api, dir)
        .configMaps(objects)
        .secret("quarry-api-tokens", Map.of("api-tokens", "operate " + token + "\n"))
        .secret("quarry-db", Map.of("url", "sqlite:" + runs().resolve("quarry.db"), "password", ""))
        .claim("quarry-runs", runs());
  }

  Path runs() {
    return dir.resolve("runs");
  }

  /** Starts pod {@code podName} of the Deployment {@code deployment}. */
  Kubelet.Pod startDeploymentPod(String deployment, String podName) {
    JsonNode template = Manifests.find(objects, "Deployment", deployment).at("/spec/template");
    return kubelet.start(podName, template, Map.of("pod-template-hash", "5f7d9c"), Map.of());
  }

  /** A client of a coordinator pod's HTTP API, with the Secret's token. */
  ApiClient client(Kubelet.Pod coordinator) {
    return new ApiClient("http://127.0.0.1:" + coordinator.ports().get("http"), token, null);
  }

  /** Waits until {@code pod}'s management endpoint says it is ready: an Up member of the cluster. */
  void awaitReady(Kubelet.Pod pod, Duration timeout) throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    URI ready = URI.create("http://127.0.0.1:" + pod.ports().get("management") + "/ready");
    await(() -> {
      if (!pod.process().isAlive()) {
        throw new AssertionError(pod.name() + " exited (" + pod.process().exitValue() + "):\n" + nodes.tail(pod.name()));
      }
      try {
        return http.send(HttpRequest.newBuilder(ready).timeout(Duration.ofSeconds(2)).build(),
            HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
      } catch (java.io.IOException e) {
        return false;
      }
    }, timeout, () -> pod.name() + " ready (/ready answers 200):\n" + nodes.tail(pod.name()));
  }

  /** The workers the coordinator lists that are not lost. */
  long liveWorkers(ApiClient client) throws Exception {
    HttpResponse<String> response = HttpClient.newHttpClient().send(
        HttpRequest.newBuilder(client.base().resolve("/api/workers")).header("Authorization", "Bearer " + token)
            .build(), HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() != 200) return -1;
    long live = 0;
    for (JsonNode worker : new ObjectMapper().readTree(response.body()).path("workers")) {
      if (!worker.path("worker_id").isNull() && !worker.path("state").asText().equals("lost")) live++;
    }
    return live;
  }

  /** Polls the run until {@code condition} holds; returns what was seen last. */
  static JsonNode awaitRun(ApiClient api, String runId, Predicate<JsonNode> condition, Duration timeout)
      throws Exception {
    JsonNode[] last = {null};
    await(() -> {
      try {
        last[0] = api.run(runId);
      } catch (java.io.IOException e) {
        return false; // not there yet, or the coordinator is failing over
      }
      return condition.test(last[0]);
    }, timeout, () -> "run " + runId + " reached the expected state; last seen: " + last[0]);
    return last[0];
  }

  interface Check {
    boolean ok() throws Exception;
  }

  static void await(Check check, Duration timeout, String what) throws Exception {
    await(check, timeout, () -> what);
  }

  static void await(Check check, Duration timeout, java.util.function.Supplier<String> what) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (check.ok()) return;
      Thread.sleep(250);
    }
    throw new AssertionError("timed out waiting: " + what.get());
  }

  @Override
  public void close() {
    nodes.close();
    api.close();
  }
}
