package io.quarry.deploy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The manifests of one run as a Kubernetes Job (what {@code quarry k8s job} prints): a ConfigMap holding the run's
 * resolved config, and an Indexed Job of {@code nodes} worker pods that join the standing cluster (k8s/), serve only
 * that run ({@code quarry worker --run NAME}), submit it from pod 0 and exit with how it ended.
 *
 * <p>The Job's contract: it completes when every pod exits 0, which they do exactly when the run COMPLETED; a pod
 * that exits non-zero (the run FAILED or was STOPPED) fails the Job at once ({@code podFailurePolicy: FailJob}), with
 * the run's reason as the pod's termination message; Quarry retries shards itself, so the Job restarts nothing
 * ({@code backoffLimit: 0}), except a pod that Kubernetes took away (eviction, preemption, a drained node: condition
 * {@code DisruptionTarget}), which it replaces while Quarry moves that pod's shards to the others. The run is a
 * gang ({@code min-workers} = every worker of the Job): it waits in Quarry's queue until all its pods' workers are
 * there, rather than starting half.
 */
final class JobManifests {
  static final String RUN_CONFIG_DIR = "/etc/quarry/run";
  static final String RUN_CONFIG_FILE = "run.conf";
  static final String TERMINATION_LOG = "/dev/termination-log";
  /** The pod's annotation with its index, set by the Job controller on the pods of an Indexed Job. */
  static final String INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index";
  /** The pod's label with the uid of the Job that made it. */
  static final String JOB_UID_LABEL = "batch.kubernetes.io/controller-uid";

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * What the Job is made of.
   *
   * @param name the Job's and the run's name
   * @param namespace the namespace, or null for kubectl's current one
   * @param instance the Quarry installation (k8s/base: quarry): names its ServiceAccount, ConfigMap and runs volume
   * @param image the image of the pods
   * @param version the pods' {@code app.kubernetes.io/version} (Pekko's app-version)
   * @param nodes pods, one per node
   * @param gpusPerNode GPUs per pod, one worker each; 0: one CPU worker per pod
   * @param cpu CPU request of a pod
   * @param memory memory request and limit of a pod
   * @param nodeSelector the pods' node selector
   * @param runConfigHocon the run's resolved config
   */
  record Spec(String name, String namespace, String instance, String image, String version, int nodes,
      int gpusPerNode, String cpu, String memory, Map<String, String> nodeSelector, String runConfigHocon) {
    int workers() {
      return nodes * Math.max(1, gpusPerNode);
    }
  }

  private JobManifests() {}

  /** The ConfigMap and the Job, as one YAML stream for {@code kubectl apply -f -}. */
  static String yaml(Spec spec) {
    YAMLFactory factory = YAMLFactory.builder()
        .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
        .enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS)
        .enable(YAMLGenerator.Feature.LITERAL_BLOCK_STYLE)
        .build();
    ObjectMapper yaml = new ObjectMapper(factory);
    StringBuilder out = new StringBuilder();
    for (ObjectNode object : List.of(configMap(spec), job(spec))) {
      try {
        out.append(yaml.writeValueAsString(object));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return out.toString();
  }

  static ObjectNode configMap(Spec spec) {
    ObjectNode map = object("apiVersion", "v1", "kind", "ConfigMap");
    map.set("metadata", metadata(spec, spec.name() + "-run"));
    map.putObject("data").put(RUN_CONFIG_FILE, spec.runConfigHocon());
    return map;
  }

  static ObjectNode job(Spec spec) {
    ObjectNode job = object("apiVersion", "batch/v1", "kind", "Job");
    job.set("metadata", metadata(spec, spec.name()));
    ObjectNode jobSpec = job.putObject("spec");
    jobSpec.put("completionMode", "Indexed");
    jobSpec.put("completions", spec.nodes());
    jobSpec.put("parallelism", spec.nodes());
    jobSpec.put("backoffLimit", 0);
    ArrayNode rules = jobSpec.putObject("podFailurePolicy").putArray("rules");
    ObjectNode disrupted = rules.addObject().put("action", "Ignore");
    disrupted.putArray("onPodConditions").addObject().put("type", "DisruptionTarget");
    ObjectNode failed = rules.addObject().put("action", "FailJob");
    failed.putObject("onExitCodes").put("containerName", "worker").put("operator", "NotIn").putArray("values").add(0);

    ObjectNode template = jobSpec.putObject("template");
    ObjectNode podLabels = labels(spec);
    podLabels.put("app.kubernetes.io/version", spec.version());
    template.putObject("metadata").set("labels", podLabels);
    ObjectNode pod = template.putObject("spec");
    pod.put("restartPolicy", "Never");
    pod.put("serviceAccountName", spec.instance());
    pod.put("terminationGracePeriodSeconds", 60);
    pod.putObject("securityContext").put("runAsNonRoot", true).put("runAsUser", 10001).put("runAsGroup", 10001)
        .put("fsGroup", 10001);
    if (!spec.nodeSelector().isEmpty()) {
      ObjectNode selector = pod.putObject("nodeSelector");
      spec.nodeSelector().forEach(selector::put);
    }
    if (spec.gpusPerNode() > 0) {
      pod.putArray("tolerations").addObject().put("key", "nvidia.com/gpu").put("operator", "Exists")
          .put("effect", "NoSchedule");
    }
    pod.putArray("containers").add(container(spec));
    ArrayNode volumes = pod.putArray("volumes");
    volumes.addObject().put("name", "runs").putObject("persistentVolumeClaim").put("claimName", spec.instance() + "-runs");
    volumes.addObject().put("name", "run-config").putObject("configMap").put("name", spec.name() + "-run");
    if (spec.gpusPerNode() > 0) {
      volumes.addObject().put("name", "dshm").putObject("emptyDir").put("medium", "Memory");
    }
    return job;
  }

  private static ObjectNode container(Spec spec) {
    ObjectNode container = object("name", "worker", "image", spec.image());
    ArrayNode args = container.putArray("args");
    for (String arg : List.of("worker", "--run", spec.name(), "--run-file", RUN_CONFIG_DIR + "/" + RUN_CONFIG_FILE,
        "--devices", devices(spec.gpusPerNode()), "--termination-message", TERMINATION_LOG)) {
      args.add(arg);
    }
    container.putArray("envFrom").addObject().putObject("configMapRef").put("name", spec.instance() + "-config");
    ArrayNode env = container.putArray("env");
    env.add(fieldRef("QUARRY_HOST", "status.podIP"));
    env.add(fieldRef("QUARRY_NODE_INDEX", "metadata.annotations['" + INDEX_ANNOTATION + "']"));
    env.add(fieldRef("QUARRY_JOB_UID", "metadata.labels['" + JOB_UID_LABEL + "']"));
    env.add(fieldRef("QUARRY_APP_VERSION", "metadata.labels['app.kubernetes.io/version']"));
    ArrayNode ports = container.putArray("ports");
    ports.addObject().put("name", "remoting").put("containerPort", 2552);
    ports.addObject().put("name", "management").put("containerPort", KubernetesBootstrap.DEFAULT_MANAGEMENT_PORT);
    container.set("readinessProbe", probe("/ready", 5, 3));
    ObjectNode liveness = probe("/alive", 10, 6);
    liveness.put("initialDelaySeconds", 30);
    container.set("livenessProbe", liveness);
    ObjectNode resources = container.putObject("resources");
    resources.putObject("requests").put("cpu", spec.cpu()).put("memory", spec.memory());
    ObjectNode limits = resources.putObject("limits").put("memory", spec.memory());
    if (spec.gpusPerNode() > 0) limits.put("nvidia.com/gpu", String.valueOf(spec.gpusPerNode()));
    // The reason a run failed is the pod's termination message; a pod that dies before writing it shows its log tail.
    container.put("terminationMessagePath", TERMINATION_LOG);
    container.put("terminationMessagePolicy", "FallbackToLogsOnError");
    ArrayNode mounts = container.putArray("volumeMounts");
    mounts.addObject().put("name", "runs").put("mountPath", "/runs");
    mounts.addObject().put("name", "run-config").put("mountPath", RUN_CONFIG_DIR).put("readOnly", true);
    if (spec.gpusPerNode() > 0) mounts.addObject().put("name", "dshm").put("mountPath", "/dev/shm");
    return container;
  }

  /** One worker per GPU the pod is given ({@code gpu:0..gpu:G-1}, as the device plugin numbers them), else one CPU worker. */
  static String devices(int gpusPerNode) {
    if (gpusPerNode == 0) return "cpu";
    List<String> devices = new ArrayList<>();
    for (int i = 0; i < gpusPerNode; i++) devices.add("gpu:" + i);
    return String.join(",", devices);
  }

  private static ObjectNode probe(String path, int periodSeconds, int failureThreshold) {
    ObjectNode probe = JSON.createObjectNode();
    probe.putObject("httpGet").put("path", path).put("port", "management");
    probe.put("periodSeconds", periodSeconds);
    probe.put("failureThreshold", failureThreshold);
    return probe;
  }

  private static ObjectNode fieldRef(String name, String fieldPath) {
    ObjectNode variable = object("name", name);
    variable.putObject("valueFrom").putObject("fieldRef").put("fieldPath", fieldPath);
    return variable;
  }

  private static ObjectNode metadata(Spec spec, String name) {
    ObjectNode metadata = object("name", name);
    if (spec.namespace() != null) metadata.put("namespace", spec.namespace());
    metadata.set("labels", labels(spec));
    return metadata;
  }

  private static ObjectNode labels(Spec spec) {
    return object("app.kubernetes.io/name", "quarry", "app.kubernetes.io/instance", spec.instance(),
        "app.kubernetes.io/component", "worker", "quarry.io/run", spec.name());
  }

  private static ObjectNode object(String... keysAndValues) {
    ObjectNode node = JSON.createObjectNode();
    for (int i = 0; i < keysAndValues.length; i += 2) node.put(keysAndValues[i], keysAndValues[i + 1]);
    return node;
  }
}
