package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** Reads a run directory the way other tools do: line by line, JSON per line. */
final class RunFiles {
  private static final ObjectMapper JSON = new ObjectMapper();

  final Path dir;

  RunFiles(Path dir) {
    this.dir = dir;
  }

  List<JsonNode> events() {
    return jsonLines(dir.resolve("events.jsonl"));
  }

  List<JsonNode> events(String type) {
    return events().stream().filter(e -> e.get("type").asText().equals(type)).collect(Collectors.toList());
  }

  JsonNode runCompleted() {
    List<JsonNode> completed = events("run_completed");
    if (completed.size() != 1) throw new AssertionError("expected one run_completed event, got " + completed.size());
    return completed.get(0);
  }

  List<JsonNode> merges() {
    return jsonLines(dir.resolve("hard_examples.jsonl"));
  }

  List<String> scalars() {
    try {
      return Files.readAllLines(dir.resolve("scalars.csv"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<JsonNode> jsonLines(Path file) {
    try {
      List<JsonNode> nodes = new ArrayList<>();
      for (String line : Files.readAllLines(file)) {
        if (!line.isBlank()) nodes.add(JSON.readTree(line));
      }
      return nodes;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }
}
