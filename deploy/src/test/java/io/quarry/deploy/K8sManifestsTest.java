package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * k8s/ and {@code quarry k8s job}, without a cluster: every overlay renders with kustomize and every object it renders,
 * and every object the job command prints, is valid against the Kubernetes 1.35 API types ({@link KubernetesSchema});
 * a broken manifest is caught; and the objects fit together (labels, ports, names, the Job's contract).
 */
@Timeout(120)
class K8sManifestsTest extends CliCapture {
  @TempDir Path dir;

  private static void assertValid(List<JsonNode> objects) {
    List<String> problems = new ArrayList<>();
    for (JsonNode object : objects) problems.addAll(KubernetesSchema.problems(object));
    assertEquals(List.of(), problems, "every object is valid against the Kubernetes API types");
  }

  @Test
  void everyOverlayRendersWithKustomizeAndEveryObjectIsValid() {
    for (String overlay : List.of("overlays/cpu", "overlays/gpu")) {
      List<JsonNode> objects = Manifests.render(overlay);
      assertValid(objects);
      for (String kindAndName : List.of("ServiceAccount/quarry", "Role/quarry", "RoleBinding/quarry",
          "ConfigMap/quarry-config", "PersistentVolumeClaim/quarry-runs", "Deployment/quarry-coordinator",
          "Service/quarry", "PodDisruptionBudget/quarry-coordinator")) {
        String[] parts = kindAndName.split("/");
        Manifests.find(objects, parts[0], parts[1]);
      }
    }
    List<JsonNode> cpu = Manifests.render("overlays/cpu");
    Manifests.find(cpu, "StatefulSet", "quarry-postgres");
    Manifests.find(cpu, "Deployment", "quarry-worker");
    Manifests.find(Manifests.render("overlays/gpu"), "Deployment", "quarry-gpu-worker");
  }

  @Test
  void theValidatorCatchesUnknownFieldsAndWrongTypes() {
    JsonNode coordinator = Manifests.find(Manifests.render("overlays/cpu"), "Deployment", "quarry-coordinator");
    assertEquals(List.of(), KubernetesSchema.problems(coordinator));

    ObjectNode unknownField = coordinator.deepCopy();
    ((ObjectNode) unknownField.at("/spec/template/spec/containers/0")).put("imagePullPolicyy", "Always");
    assertProblem(unknownField, "`imagePullPolicyy`");

    ObjectNode wrongType = coordinator.deepCopy();
    ((ObjectNode) wrongType.at("/spec")).put("replicas", "two");
    assertProblem(wrongType, "two");

    ObjectNode numberForString = coordinator.deepCopy();
    ((com.fasterxml.jackson.databind.node.ArrayNode) numberForString.at("/spec/template/spec/containers/0/env"))
        .addObject().put("name", "QUARRY_HTTP_PORT").put("value", 8080);
    assertProblem(numberForString, "env[4].value is 8080, a number");

    ObjectNode missingRequired = coordinator.deepCopy();
    ((ObjectNode) missingRequired.at("/spec/template/spec/containers/0")).remove("name");
    assertProblem(missingRequired, "`name`");

    ObjectNode objectForString = coordinator.deepCopy();
    ((ObjectNode) objectForString.at("/spec/template/spec/containers/0")).putObject("image").put("repository", "x");
    assertProblem(objectForString, "`image`");

    ObjectNode unknownKind = coordinator.deepCopy();
    unknownKind.put("kind", "Deploymnet");
    assertProblem(unknownKind, "is not a type of the Kubernetes API");
  }

  @Test
  void aBrokenOverlayIsCaughtAfterKustomizeRendersIt() throws Exception {
    // An overlay of the real base with a patch that misspells a field: kustomize merges it without a word.
    Path overlay = Manifests.K8S.resolve("../deploy/target/k8s-broken-overlay").normalize();
    Files.createDirectories(overlay);
    Files.writeString(overlay.resolve("kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        + "kind: Kustomization\nbases:\n  - ../../../k8s/base\npatchesStrategicMerge:\n  - typo.yaml\n");
    Files.writeString(overlay.resolve("typo.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        + "  name: quarry-coordinator\nspec:\n  template:\n    spec:\n      terminationGracePeriodSecond: 30\n");
    List<String> problems = new ArrayList<>();
    for (JsonNode object : Manifests.render("../deploy/target/k8s-broken-overlay")) {
      problems.addAll(KubernetesSchema.problems(object));
    }
    assertEquals(1, problems.size(), problems.toString());
    assertTrue(problems.get(0).startsWith("Deployment/quarry-coordinator: The field `terminationGracePeriodSecond`"),
        problems.get(0));
  }

  @Test
  void theBaseGivesDiscoveryAndTheLeaseWhatTheyNeed() {
    List<JsonNode> objects = Manifests.render("overlays/cpu");
    JsonNode role = Manifests.find(objects, "Role", "quarry");
    Map<String, String> verbs = new HashMap<>();
    for (JsonNode rule : role.path("rules")) {
      verbs.put(rule.path("apiGroups").get(0).asText() + "/" + rule.path("resources").get(0).asText(),
          rule.path("verbs").toString());
    }
    assertTrue(verbs.get("/pods").contains("\"list\"") && verbs.get("/pods").contains("\"watch\""), verbs.toString());
    assertTrue(verbs.get("coordination.k8s.io/leases").contains("\"update\""), verbs.toString());
    assertEquals("quarry", Manifests.find(objects, "RoleBinding", "quarry").at("/subjects/0/name").asText());

    JsonNode coordinator = Manifests.find(objects, "Deployment", "quarry-coordinator");
    assertEquals(2, coordinator.at("/spec/replicas").asInt(), "an active coordinator and a standby");
    JsonNode pod = coordinator.at("/spec/template");
    JsonNode container = pod.at("/spec/containers/0");
    assertEquals("quarry", pod.at("/spec/serviceAccountName").asText());
    assertEquals(KubernetesBootstrap.DEFAULT_MANAGEMENT_PORT, port(container, "management"));
    assertEquals("/ready", container.at("/readinessProbe/httpGet/path").asText());
    assertEquals("management", container.at("/readinessProbe/httpGet/port").asText());
    assertEquals("/alive", container.at("/livenessProbe/httpGet/path").asText());

    // The pods that discovery finds are exactly the coordinators: kubernetes.conf's selector, with the ConfigMap's
    // cluster name, matches the coordinator pods and no worker pod.
    JsonNode settings = Manifests.find(objects, "ConfigMap", "quarry-config").path("data");
    assertEquals(KubernetesBootstrap.METHOD, settings.path("QUARRY_DISCOVERY").asText());
    com.typesafe.config.Config conf = ConfigFactory.parseResources("kubernetes.conf").resolve();
    assertEquals("management", conf.getString("pekko.management.cluster.bootstrap.contact-point-discovery.port-name"));
    String selector = String.format(conf.getString("pekko.discovery.kubernetes-api.pod-label-selector"),
        settings.path("QUARRY_CLUSTER_NAME").asText());
    assertTrue(matches(selector, pod.at("/metadata/labels")), selector + " selects the coordinators");
    assertFalse(matches(selector, Manifests.find(objects, "Deployment", "quarry-worker").at("/spec/template/metadata/labels")));
    assertTrue(matches(toSelector(Manifests.find(objects, "Service", "quarry").at("/spec/selector")),
        pod.at("/metadata/labels")), "the Service reaches the coordinators");
    assertEquals(1, Manifests.find(objects, "PodDisruptionBudget", "quarry-coordinator").at("/spec/minAvailable").asInt());
    assertTrue(matches(toSelector(Manifests.find(objects, "PodDisruptionBudget", "quarry-coordinator")
        .at("/spec/selector/matchLabels")), pod.at("/metadata/labels")));

    for (JsonNode object : objects) {
      JsonNode podSpec = object.at("/spec/template/spec");
      if (podSpec.isMissingNode()) continue;
      String name = object.at("/metadata/name").asText();
      assertTrue(podSpec.path("terminationGracePeriodSeconds").asInt() > 0, name + " has a grace period");
      for (JsonNode c : podSpec.path("containers")) {
        assertTrue(c.at("/resources/requests/memory").isTextual() && c.at("/resources/limits/memory").isTextual(),
            name + " requests and limits memory");
        assertTrue(c.at("/resources/requests/cpu").isTextual(), name + " requests CPU");
      }
    }
    assertEquals("ReadWriteMany",
        Manifests.find(objects, "PersistentVolumeClaim", "quarry-runs").at("/spec/accessModes/0").asText());
  }

  @Test
  void theGpuOverlaysWorkersHaveOneWorkerPerGpuOnGpuNodes() {
    JsonNode pod = Manifests.find(Manifests.render("overlays/gpu"), "Deployment", "quarry-gpu-worker")
        .at("/spec/template/spec");
    JsonNode container = pod.at("/containers/0");
    int gpus = Integer.parseInt(container.at("/resources/limits/nvidia.com~1gpu").asText());
    List<String> args = strings(container.path("args"));
    assertEquals(JobManifests.devices(gpus), args.get(args.indexOf("--devices") + 1));
    assertEquals("nvidia.com/gpu", pod.at("/tolerations/0/key").asText());
    assertEquals("true", pod.at("/nodeSelector/nvidia.com~1gpu.present").asText());
  }

  @Test
  void aRunAsAJobIsAnIndexedJobOfWorkersThatServeOnlyItsRun() throws Exception {
    Path runFile = dir.resolve("run.conf");
    Files.writeString(runFile, "trainer = stub\nstub.samples = 1000\n");
    assertEquals(0, QuarryCli.run("k8s", "job", runFile.toString(), "epochs=2", "--name", "exp1", "--nodes", "4",
        "--gpus-per-node", "8"), stderr());
    List<JsonNode> objects = Manifests.parse(stdout());
    assertEquals(2, objects.size());
    assertValid(objects);

    JsonNode config = Manifests.find(objects, "ConfigMap", "exp1-run");
    com.typesafe.config.Config run = ConfigFactory.parseString(config.at("/data/run.conf").asText());
    assertEquals(32, run.getInt("shards"), "one shard per worker: 4 nodes x 8 GPUs");
    assertEquals(32, run.getInt("min-workers"), "the run starts with all 32 workers or waits");
    assertEquals(2, run.getInt("epochs"));

    JsonNode job = Manifests.find(objects, "Job", "exp1");
    assertEquals("Indexed", job.at("/spec/completionMode").asText());
    assertEquals(4, job.at("/spec/completions").asInt());
    assertEquals(4, job.at("/spec/parallelism").asInt());
    assertEquals(0, job.at("/spec/backoffLimit").asInt(), "Quarry retries shards; the Job restarts no pod");
    assertEquals("DisruptionTarget", job.at("/spec/podFailurePolicy/rules/0/onPodConditions/0/type").asText());
    assertEquals("Ignore", job.at("/spec/podFailurePolicy/rules/0/action").asText());
    assertEquals("FailJob", job.at("/spec/podFailurePolicy/rules/1/action").asText());
    assertEquals("NotIn", job.at("/spec/podFailurePolicy/rules/1/onExitCodes/operator").asText());
    JsonNode pod = job.at("/spec/template/spec");
    assertEquals("Never", pod.path("restartPolicy").asText());
    JsonNode container = pod.at("/containers/0");
    assertEquals("worker", container.path("name").asText());
    assertEquals("worker", job.at("/spec/podFailurePolicy/rules/1/onExitCodes/containerName").asText());
    List<String> args = strings(container.path("args"));
    assertEquals(List.of("worker", "--run", "exp1", "--run-file", "/etc/quarry/run/run.conf", "--devices",
        JobManifests.devices(8), "--termination-message", "/dev/termination-log"), args);
    assertEquals("/dev/termination-log", container.path("terminationMessagePath").asText());
    assertEquals("8", container.at("/resources/limits/nvidia.com~1gpu").asText());
    assertEquals("true", pod.at("/nodeSelector/nvidia.com~1gpu.present").asText());
    assertEquals("nvidia.com/gpu", pod.at("/tolerations/0/key").asText());

    // What it refers to is what k8s/base makes.
    List<JsonNode> base = Manifests.render("overlays/gpu");
    Manifests.find(base, "ServiceAccount", pod.path("serviceAccountName").asText());
    Manifests.find(base, "ConfigMap", container.at("/envFrom/0/configMapRef/name").asText());
    Manifests.find(base, "PersistentVolumeClaim", pod.at("/volumes/0/persistentVolumeClaim/claimName").asText());
    assertEquals(KubernetesBootstrap.DEFAULT_MANAGEMENT_PORT, port(container, "management"));
  }

  @Test
  void badJobArgumentsAreRefusedNamingWhatIsAllowed() throws Exception {
    Path runFile = dir.resolve("run.conf");
    Files.writeString(runFile, "trainer = stub\n");
    assertEquals(2, QuarryCli.run("k8s", "job", runFile.toString(), "--name", "Exp_1", "--nodes", "2"));
    assertTrue(stderr().contains("--name: 'Exp_1' is not a Job name; allowed: lower-case letters"), stderr());
    assertEquals(2, QuarryCli.run("k8s", "job", runFile.toString(), "--name", "exp", "--nodes", "0"));
    assertTrue(stderr().contains("--nodes: 0 is out of range; allowed: 1-10000"), stderr());
    assertEquals(2, QuarryCli.run("k8s", "job", runFile.toString(), "epochz=3", "--name", "exp", "--nodes", "2"));
    assertTrue(stderr().contains("unknown config key 'epochz'"), stderr());
    assertEquals(2, QuarryCli.run("k8s", "job", runFile.toString(), "shards=3", "--name", "exp", "--nodes", "4"));
    assertTrue(stderr().contains("config key 'min-workers': 4 is more than shards = 3"), stderr());
  }

  @Test
  void theImageRunsAsTheUserAndServesThePortsTheManifestsUse() throws Exception {
    String dockerfile = Files.readString(Manifests.K8S.resolve("../Dockerfile"));
    JsonNode pod = Manifests.find(Manifests.render("overlays/cpu"), "Deployment", "quarry-coordinator")
        .at("/spec/template/spec");
    assertTrue(dockerfile.contains("\nUSER " + pod.at("/securityContext/runAsUser").asInt() + ":"), "the same non-root user");
    JsonNode container = pod.at("/containers/0");
    for (String port : List.of("remoting", "management", "http")) {
      assertTrue(dockerfile.matches("(?s).*\nEXPOSE [0-9 ]*\\b" + port(container, port) + "\\b.*"), port + " exposed");
    }
    assertTrue(Files.isExecutable(Manifests.K8S.resolve("../deploy/src/main/docker/quarry")), "the image's launcher");
  }

  private static void assertProblem(JsonNode object, String expected) {
    List<String> problems = KubernetesSchema.problems(object);
    assertFalse(problems.isEmpty(), "a problem is found");
    assertTrue(problems.stream().anyMatch(problem -> problem.contains(expected)), problems.toString());
  }

  private static int port(JsonNode container, String name) {
    for (JsonNode port : container.path("ports")) {
      if (port.path("name").asText().equals(name)) return port.path("containerPort").asInt();
    }
    throw new AssertionError("no port named " + name + " in " + container.path("ports"));
  }

  private static List<String> strings(JsonNode array) {
    List<String> list = new ArrayList<>();
    array.forEach(item -> list.add(item.asText()));
    return list;
  }

  /** Whether labels satisfy an equality-based selector {@code k=v,k2=v2}. */
  static boolean matches(String selector, JsonNode labels) {
    for (String term : selector.split(",")) {
      String[] kv = term.split("=", 2);
      if (!labels.path(kv[0]).asText("\u0000").equals(kv[1])) return false;
    }
    return true;
  }

  private static String toSelector(JsonNode matchLabels) {
    List<String> terms = new ArrayList<>();
    matchLabels.fields().forEachRemaining(entry -> terms.add(entry.getKey() + "=" + entry.getValue().asText()));
    return String.join(",", terms);
  }
}
