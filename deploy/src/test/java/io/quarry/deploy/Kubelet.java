package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A stand-in for the kubelet, so that the commands in the manifests are what the tests run: it starts a pod template's
 * container as a {@code quarry} JVM ({@link NodeProcesses}; the image's entrypoint is the launcher) with the
 * container's args and the environment Kubernetes would give it — {@code envFrom} ConfigMaps, {@code env} values,
 * {@code $(VAR)} references, Secrets, and the downward API ({@code status.podIP}, the pod's labels and annotations) —
 * and its volumes: each mount path is a directory of the test (ConfigMaps and Secrets written as files), and every
 * mount path in the args and the environment is rewritten to it. Every pod of the real cluster has an IP of its own;
 * here all are 127.0.0.1, so each pod gets free ports for its named container ports, through the environment
 * variables that set them ({@code QUARRY_PORT}, {@code QUARRY_MANAGEMENT_PORT}, {@code QUARRY_HTTP_PORT}). A pod
 * becomes Running in the {@link FakeKubernetesApi} when it starts.
 */
final class Kubelet {
  private static final Pattern REFERENCE = Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)");
  private static final Map<String, String> PORT_VARIABLES =
      Map.of("remoting", "QUARRY_PORT", "management", "QUARRY_MANAGEMENT_PORT", "http", "QUARRY_HTTP_PORT");

  private final NodeProcesses nodes;
  private final FakeKubernetesApi api;
  private final Path dir;
  private final Map<String, Map<String, String>> configMaps = new LinkedHashMap<>();
  private final Map<String, Map<String, String>> secrets = new LinkedHashMap<>();
  private final Map<String, Path> claims = new LinkedHashMap<>();

  /** A pod as started: its process, its ports, and the file its termination message lands in. */
  record Pod(String name, Process process, Map<String, Integer> ports, Path terminationMessage) {}

  Kubelet(NodeProcesses nodes, FakeKubernetesApi api, Path dir) {
    this.nodes = nodes;
    this.api = api;
    this.dir = dir;
  }

  /** The ConfigMaps among {@code objects} are there for the pods. */
  Kubelet configMaps(List<JsonNode> objects) {
    for (JsonNode object : objects) {
      if (!object.path("kind").asText().equals("ConfigMap")) continue;
      Map<String, String> data = new LinkedHashMap<>();
      object.path("data").fields().forEachRemaining(entry -> data.put(entry.getKey(), entry.getValue().asText()));
      configMaps.put(object.at("/metadata/name").asText(), data);
    }
    return this;
  }

  Kubelet secret(String name, Map<String, String> data) {
    secrets.put(name, data);
    return this;
  }

  /** The PersistentVolumeClaim {@code name} is the directory {@code path}. */
  Kubelet claim(String name, Path path) {
    claims.put(name, path);
    return this;
  }

  /**
   * Starts pod {@code podName} of {@code template} (a pod template: metadata and spec), with the labels and annotations
   * a controller adds ({@code extraLabels}, {@code annotations}).
   */
  Pod start(String podName, JsonNode template, Map<String, String> extraLabels, Map<String, String> annotations) {
    ObjectNode labels = template.at("/metadata/labels").deepCopy();
    extraLabels.forEach(labels::put);
    JsonNode spec = template.path("spec");
    JsonNode container = spec.path("containers").get(0);
    Path podDir = dir.resolve("pods").resolve(podName);
    Map<String, String> mounts = new LinkedHashMap<>();
    for (JsonNode mount : container.path("volumeMounts")) {
      mounts.put(mount.path("mountPath").asText(), volume(podDir, spec, mount.path("name").asText()).toString());
    }
    Path message = podDir.resolve("termination-log");
    mounts.put(container.path("terminationMessagePath").asText("/dev/termination-log"), message.toString());

    Map<String, String> env = new LinkedHashMap<>(api.podEnvironment());
    for (JsonNode source : container.path("envFrom")) {
      String name = source.at("/configMapRef/name").asText();
      Map<String, String> data = configMaps.get(name);
      if (data == null) throw new AssertionError(podName + ": envFrom names ConfigMap " + name + ", which is not there");
      env.putAll(data);
    }
    for (JsonNode variable : container.path("env")) {
      env.put(variable.path("name").asText(), value(podName, variable, labels, annotations, env));
    }
    Map<String, Integer> ports = new LinkedHashMap<>();
    for (JsonNode port : container.path("ports")) {
      String name = port.path("name").asText();
      int free = NodeProcesses.freePort();
      ports.put(name, free);
      if (PORT_VARIABLES.containsKey(name)) env.put(PORT_VARIABLES.get(name), String.valueOf(free));
    }
    // 0.0.0.0 in a pod is the pod's own network namespace; here it would be every interface of the test machine.
    if ("0.0.0.0".equals(env.get("QUARRY_HTTP_HOST"))) env.put("QUARRY_HTTP_HOST", "127.0.0.1");
    env.replaceAll((name, value) -> remap(value, mounts));
    List<String> args = new ArrayList<>();
    for (JsonNode arg : container.path("args")) args.add(remap(expand(arg.asText(), env), mounts));
    if (container.has("command")) throw new AssertionError(podName + ": the image's entrypoint is quarry; no command");
    try {
      Files.createDirectories(podDir);
      Files.writeString(message, "");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Process process = nodes.start(podName, podDir, env, args.toArray(String[]::new));
    api.podRunning(podName, labels, ports);
    return new Pod(podName, process, ports, message);
  }

  /** A volume of the pod as a directory: a claim's, a ConfigMap's or Secret's files, or an empty one. */
  private Path volume(Path podDir, JsonNode spec, String name) {
    for (JsonNode volume : spec.path("volumes")) {
      if (!volume.path("name").asText().equals(name)) continue;
      try {
        if (volume.has("persistentVolumeClaim")) {
          String claim = volume.at("/persistentVolumeClaim/claimName").asText();
          if (!claims.containsKey(claim)) throw new AssertionError("no PersistentVolumeClaim " + claim + " here");
          return Files.createDirectories(claims.get(claim));
        }
        Path files = Files.createDirectories(podDir.resolve("volumes").resolve(name));
        Map<String, String> data = volume.has("configMap") ? configMaps.get(volume.at("/configMap/name").asText())
            : volume.has("secret") ? secrets.get(volume.at("/secret/secretName").asText()) : Map.of();
        if (data == null) throw new AssertionError("volume " + name + " names a ConfigMap or Secret that is not there");
        for (Map.Entry<String, String> file : data.entrySet()) {
          Files.writeString(files.resolve(file.getKey()), file.getValue());
        }
        return files;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    throw new AssertionError("no volume named " + name + " in the pod");
  }

  private String value(String podName, JsonNode variable, JsonNode labels, Map<String, String> annotations,
      Map<String, String> env) {
    if (variable.has("value")) return expand(variable.path("value").asText(), env);
    JsonNode from = variable.path("valueFrom");
    if (from.has("fieldRef")) {
      String path = from.at("/fieldRef/fieldPath").asText();
      if (path.equals("status.podIP")) return "127.0.0.1";
      if (path.equals("metadata.name")) return podName;
      if (path.equals("metadata.namespace")) return FakeKubernetesApi.NAMESPACE;
      Matcher key = Pattern.compile("metadata\\.(labels|annotations)\\['([^']+)'\\]").matcher(path);
      if (key.matches()) {
        String found = key.group(1).equals("labels") ? labels.path(key.group(2)).asText(null)
            : annotations.get(key.group(2));
        if (found == null) throw new AssertionError(podName + ": the pod has no " + path);
        return found;
      }
      throw new AssertionError(podName + ": fieldRef " + path + " is not one this stand-in knows");
    }
    if (from.has("secretKeyRef")) {
      Map<String, String> secret = secrets.get(from.at("/secretKeyRef/name").asText());
      String key = from.at("/secretKeyRef/key").asText();
      if (secret == null || !secret.containsKey(key)) throw new AssertionError(podName + ": no secret for " + variable);
      return secret.get(key);
    }
    throw new AssertionError(podName + ": cannot fill " + variable);
  }

  /** {@code $(VAR)} replaced by the variable's value, as Kubernetes does in env values, command and args. */
  private static String expand(String text, Map<String, String> env) {
    Matcher matcher = REFERENCE.matcher(text);
    StringBuilder out = new StringBuilder();
    while (matcher.find()) {
      String value = env.get(matcher.group(1));
      matcher.appendReplacement(out, Matcher.quoteReplacement(value != null ? value : matcher.group()));
    }
    return matcher.appendTail(out).toString();
  }

  /** Mount paths (and paths under them) rewritten to the test's directories. */
  private static String remap(String text, Map<String, String> mounts) {
    String result = text;
    for (Map.Entry<String, String> mount : mounts.entrySet()) {
      result = result.replaceAll("(?<![\\w/.-])" + Pattern.quote(mount.getKey()) + "(?=$|/|,|\\s)",
          Matcher.quoteReplacement(mount.getValue()));
    }
    return result;
  }
}
