package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clusters that form themselves: two coordinator pods and two worker pods of k8s/overlays/cpu, started with the
 * commands and environment of the manifests, find each other through kubernetes-api discovery against an HTTPS API
 * server that lists the pods (no seed nodes anywhere), become ready, and train a run; the active coordinator killed
 * with SIGKILL, the standby takes the run over and it completes.
 */
@Timeout(300)
class KubernetesBootstrapTest {
  @TempDir Path dir;
  private KubernetesCluster cluster;

  @AfterEach
  void stopEverything() {
    if (cluster != null) cluster.close();
  }

  @Test
  void podsFormOneClusterThroughTheApiServerAndARunSurvivesTheActiveCoordinator() throws Exception {
    cluster = new KubernetesCluster(dir);
    Kubelet.Pod first = cluster.startDeploymentPod("quarry-coordinator", "quarry-coordinator-5f7d9c-a");
    // One after the other: the test's run store is an SQLite file, which two JVMs cannot set up at the same moment.
    cluster.nodes.awaitLog(first.name(), "quarry coordinator node up", Duration.ofSeconds(60));
    Kubelet.Pod second = cluster.startDeploymentPod("quarry-coordinator", "quarry-coordinator-5f7d9c-b");
    Kubelet.Pod workerA = cluster.startDeploymentPod("quarry-worker", "quarry-worker-5f7d9c-a");
    Kubelet.Pod workerB = cluster.startDeploymentPod("quarry-worker", "quarry-worker-5f7d9c-b");
    for (Kubelet.Pod pod : List.of(first, second, workerA, workerB)) cluster.awaitReady(pod, Duration.ofSeconds(120));
    for (Kubelet.Pod pod : List.of(first, second, workerA, workerB)) {
      String up = cluster.nodes.logText(pod.name()).lines().filter(line -> line.contains(" node up at "))
          .findFirst().orElseThrow();
      assertTrue(up.contains("finding the cluster through the Kubernetes API") && !up.contains("joining"),
          pod.name() + " found the cluster through discovery, with no seed nodes: " + up);
    }
    assertTrue(cluster.api.podLists() > 0, "the pods asked the API server");

    ApiClient firstApi = cluster.client(first);
    ApiClient secondApi = cluster.client(second);
    KubernetesCluster.await(() -> cluster.liveWorkers(firstApi) == 2, Duration.ofSeconds(60), "both workers registered");

    firstApi.submit("stub.samples = 4000\nstub.step-time = 30ms\nbatch-size = 10\nepochs = 1\nshards = 2\n"
        + "checkpoint.every-steps = 10\nhard-examples.merge-interval = 500ms\n", List.of(), "on-k8s");
    KubernetesCluster.awaitRun(firstApi, "on-k8s", run -> {
      for (JsonNode shard : run.path("shards")) if (shard.path("checkpoint_step").asLong() < 20) return false;
      return true;
    }, Duration.ofSeconds(90));

    // The singleton runs on the oldest coordinator: the one whose log says its incarnation started.
    boolean firstIsActive = cluster.nodes.logText(first.name()).contains("coordinator incarnation");
    Kubelet.Pod active = firstIsActive ? first : second;
    ApiClient standby = firstIsActive ? secondApi : firstApi;
    cluster.nodes.kill(active.name());
    cluster.api.podGone(active.name());

    JsonNode done = KubernetesCluster.awaitRun(standby, "on-k8s", run -> run.path("state").asText().equals("completed")
        || run.path("state").asText().equals("failed"), Duration.ofSeconds(180));
    assertEquals("completed", done.path("state").asText(), done.toString());
    assertEquals(400, done.path("steps").asLong());
    RunFiles files = new RunFiles(cluster.runs().resolve("on-k8s"));
    assertEquals(1, files.events("run_recovered").size(), "the standby recovered the run");
    JsonNode completed = files.runCompleted();
    // The workers fence their attempts when the active coordinator's node becomes unreachable; the standby restarts
    // them from the newest checkpoint: the steps past it are trained again and counted as redone, never lost.
    assertEquals(400 + completed.path("steps_redone").asLong(), completed.path("steps_trained").asLong(),
        "every step trained is the run's or counted as redone: " + completed);
    assertEquals(10 * completed.path("steps_trained").asLong(), completed.path("samples").asLong(), completed.toString());
    assertTrue(completed.path("steps_redone").asLong() <= 2 * 10, "at most one checkpoint interval per shard redone: "
        + completed);
  }
}
