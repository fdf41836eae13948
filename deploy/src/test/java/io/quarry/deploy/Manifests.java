package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The manifests of k8s/, rendered with kustomize ({@code kubectl kustomize}), and YAML streams read as objects. */
final class Manifests {
  /** k8s/ beside the deploy module (the tests run in deploy/). */
  static final Path K8S = Path.of("..", "k8s").toAbsolutePath().normalize();
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private Manifests() {}

  /** The objects {@code kubectl kustomize k8s/<dir>} renders; fails with kubectl's words when it cannot. */
  static List<JsonNode> render(String dir) {
    Process process;
    try {
      process = new ProcessBuilder("kubectl", "kustomize", K8S.resolve(dir).toString()).start();
    } catch (IOException e) {
      throw new AssertionError("kubectl is needed to render k8s/ with kustomize (scripts/install-test-deps.sh installs "
          + "Debian's kubernetes-client where no kubectl is on the PATH): " + e.getMessage(), e);
    }
    try {
      process.getOutputStream().close();
      byte[] out = process.getInputStream().readAllBytes();
      String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new AssertionError("kubectl kustomize " + dir + " did not finish within 60 s");
      }
      if (process.exitValue() != 0) throw new AssertionError("kubectl kustomize " + dir + " failed:\n" + err);
      return parse(new String(out, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }

  /** Every document of a YAML stream, as objects (empty documents left out). */
  static List<JsonNode> parse(String yaml) {
    List<JsonNode> objects = new ArrayList<>();
    try (var documents = YAML.readerFor(JsonNode.class).<JsonNode>readValues(yaml)) {
      while (documents.hasNext()) {
        JsonNode document = documents.next();
        if (document != null && !document.isNull() && !document.isEmpty()) objects.add(document);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return objects;
  }

  /** The object of {@code kind} called {@code name}; fails naming what there is. */
  static JsonNode find(List<JsonNode> objects, String kind, String name) {
    for (JsonNode object : objects) {
      if (object.path("kind").asText().equals(kind) && object.path("metadata").path("name").asText().equals(name)) {
        return object;
      }
    }
    List<String> there = objects.stream()
        .map(o -> o.path("kind").asText() + "/" + o.path("metadata").path("name").asText()).toList();
    throw new AssertionError("no " + kind + "/" + name + " among " + there);
  }
}
