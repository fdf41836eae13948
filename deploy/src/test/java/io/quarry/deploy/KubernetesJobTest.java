package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run as a Kubernetes Job: the manifests {@code quarry k8s job} prints are parsed, and each of the Job's pods is
 * started with the command and environment in them ({@link Kubelet}: the completion index and the Job's uid filled in
 * through the downward API as the Job controller does), beside two coordinator pods of k8s/overlays/cpu. The pods serve
 * only their run, which waits for all of them (a gang) and starts once they are there; every pod exits 0 when it
 * completed; a failed run makes every pod exit non-zero with the reason in its termination-message file; SIGTERM to
 * the pods (kubectl delete job) stops the run within the grace period.
 */
@Timeout(600)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KubernetesJobTest extends CliCapture {
  private static final Duration POD_EXIT = Duration.ofSeconds(120);

  private Path dir;
  private KubernetesCluster cluster;
  private ApiClient api;

  @BeforeAll
  void startTheCoordinators(@TempDir Path dir) throws Exception {
    this.dir = dir;
    cluster = new KubernetesCluster(dir);
    Kubelet.Pod first = cluster.startDeploymentPod("quarry-coordinator", "quarry-coordinator-5f7d9c-a");
    cluster.nodes.awaitLog(first.name(), "quarry coordinator node up", Duration.ofSeconds(60)); // SQLite: one at a time
    Kubelet.Pod second = cluster.startDeploymentPod("quarry-coordinator", "quarry-coordinator-5f7d9c-b");
    cluster.awaitReady(first, Duration.ofSeconds(120));
    cluster.awaitReady(second, Duration.ofSeconds(120));
    api = cluster.client(first);
  }

  @AfterAll
  void stopEverything() {
    if (cluster != null) cluster.close();
  }

  /** The objects {@code quarry k8s job RUN --name NAME --nodes N overrides...} prints. */
  private List<JsonNode> jobManifests(String name, int nodes, String... overrides) throws Exception {
    Path runFile = dir.resolve(name + ".conf");
    Files.writeString(runFile, "trainer = stub\nbatch-size = 10\nepochs = 1\ncheckpoint.every-steps = 10\n"
        + "hard-examples.merge-interval = 500ms\n");
    List<String> args = new ArrayList<>(List.of("k8s", "job", runFile.toString(), "--name", name, "--nodes",
        String.valueOf(nodes)));
    args.addAll(List.of(overrides));
    int before = stdout().length();
    assertEquals(0, QuarryCli.run(args.toArray(String[]::new)), stderr());
    List<JsonNode> objects = Manifests.parse(stdout().substring(before));
    cluster.kubelet.configMaps(objects);
    return objects;
  }

  /** Starts pod {@code index} of the Job as the Job controller would: its completion index and the Job's uid. */
  private Kubelet.Pod startJobPod(List<JsonNode> objects, String jobUid, int index) {
    JsonNode job = objects.stream().filter(o -> o.path("kind").asText().equals("Job")).findFirst().orElseThrow();
    String name = job.at("/metadata/name").asText();
    return cluster.kubelet.start(name + "-" + index + "-x7k2p", job.at("/spec/template"),
        Map.of(JobManifests.JOB_UID_LABEL, jobUid, "batch.kubernetes.io/job-name", name),
        Map.of(JobManifests.INDEX_ANNOTATION, String.valueOf(index)));
  }

  private static int exitCode(Kubelet.Pod pod) throws InterruptedException {
    if (!pod.process().waitFor(POD_EXIT.toSeconds(), TimeUnit.SECONDS)) {
      throw new AssertionError(pod.name() + " did not exit within " + POD_EXIT);
    }
    return pod.process().exitValue();
  }

  @Test
  void theRunWaitsForAllItsPodsThenEveryPodExitsZeroWhenItCompleted() throws Exception {
    List<JsonNode> job = jobManifests("exp-complete", 2, "stub.samples=2000", "stub.step-time=5ms");
    String uid = UUID.randomUUID().toString();
    Kubelet.Pod first = startJobPod(job, uid, 0);

    // Pod 0 submits the run once its worker is known; with one of its two pods there, the gang waits whole.
    JsonNode waiting = KubernetesCluster.awaitRun(api, "exp-complete", run -> true, Duration.ofSeconds(120));
    assertEquals(1, cluster.liveWorkers(api));
    assertEquals("pending", waiting.path("state").asText(), waiting.toString());
    for (JsonNode shard : waiting.path("shards")) assertEquals("pending", shard.path("state").asText(), waiting.toString());

    Kubelet.Pod second = startJobPod(job, uid, 1);
    assertEquals(0, exitCode(first), cluster.nodes.tail(first.name()));
    assertEquals(0, exitCode(second), cluster.nodes.tail(second.name()));
    JsonNode done = api.run("exp-complete");
    assertEquals("completed", done.path("state").asText());
    assertEquals(200, done.path("steps").asLong(), "2 shards x 100 steps");
    for (Kubelet.Pod pod : List.of(first, second)) {
      String message = Files.readString(pod.terminationMessage());
      assertTrue(message.startsWith("run exp-complete completed: 200/200 steps"), message);
    }
    String log = cluster.nodes.logText(first.name());
    assertTrue(log.contains("submitted run exp-complete"), log);
    assertTrue(log.contains("[100%] completed step 200/200"), "kubectl logs shows the progress:\n" + log);
    List<JsonNode> assigned = new RunFiles(cluster.runs().resolve("exp-complete")).events("shard_assigned");
    assertTrue(assigned.stream().allMatch(e -> e.path("worker_id").asText().contains("/cpu-0")), assigned.toString());
  }

  @Test
  void aFailedRunFailsEveryPodWithTheReasonAsItsTerminationMessage() throws Exception {
    List<JsonNode> job = jobManifests("exp-fail", 2, "stub.samples=2000", "stub.step-time=5ms",
        "stub.fail-at-step=20", "stub.fault-shards=[1]", "max-attempts=1");
    String uid = UUID.randomUUID().toString();
    Kubelet.Pod first = startJobPod(job, uid, 0);
    Kubelet.Pod second = startJobPod(job, uid, 1);
    assertEquals(QuarryCli.EXIT_FAILED, exitCode(first), cluster.nodes.tail(first.name()));
    assertEquals(QuarryCli.EXIT_FAILED, exitCode(second), cluster.nodes.tail(second.name()));
    JsonNode failed = api.run("exp-fail");
    assertEquals("failed", failed.path("state").asText());
    for (Kubelet.Pod pod : List.of(first, second)) {
      String message = Files.readString(pod.terminationMessage());
      assertTrue(message.startsWith("run exp-fail failed: ") && message.contains(failed.path("reason").asText()),
          "the run's reason, for kubectl describe: " + message + " / " + failed.path("reason"));
    }
  }

  @Test
  void sigtermToTheJobsPodsStopsTheRunWithinTheGracePeriod() throws Exception {
    List<JsonNode> job = jobManifests("exp-delete", 2, "stub.samples=20000", "stub.step-time=20ms");
    String uid = UUID.randomUUID().toString();
    Kubelet.Pod first = startJobPod(job, uid, 0);
    Kubelet.Pod second = startJobPod(job, uid, 1);
    KubernetesCluster.awaitRun(api, "exp-delete", run -> run.path("steps").asLong() >= 40, Duration.ofSeconds(120));

    // kubectl delete job: every pod gets SIGTERM, and SIGKILL after terminationGracePeriodSeconds.
    int graceSeconds = job.get(1).at("/spec/template/spec/terminationGracePeriodSeconds").asInt();
    first.process().destroy();
    second.process().destroy();
    for (Kubelet.Pod pod : List.of(first, second)) {
      assertTrue(pod.process().waitFor(graceSeconds, TimeUnit.SECONDS), pod.name() + " exited within the grace period:\n"
          + cluster.nodes.tail(pod.name()));
    }
    JsonNode stopped = api.run("exp-delete");
    assertEquals("stopped", stopped.path("state").asText(), stopped.toString());
    assertTrue(stopped.path("reason").asText().contains("the Job's pods were terminated"), stopped.toString());
    assertTrue(stopped.path("steps").asLong() < 2000, "stopped before it would have completed: " + stopped);
    String message = Files.readString(first.terminationMessage()) + Files.readString(second.terminationMessage());
    assertTrue(message.contains("run exp-delete stopped"), message);
  }
}
