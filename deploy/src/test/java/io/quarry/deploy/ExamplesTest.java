package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The commands that {@code examples/README.md} and the README give for the PyTorch example, run exactly as written,
 * the way a user runs them: {@code quarry} in its own JVM, from a directory that has the repository's
 * {@code examples/} (the repository root, for a user), with real PyTorch (Debian's {@code python3-torch}, which the
 * test command's set-up installs). Where {@code python3} on the {@code PATH} has no torch, the test puts one that
 * has it first on the {@code PATH}, as the README tells a user to.
 */
@Timeout(600)
class ExamplesTest {
  /** The tests run in deploy/. */
  private static final Path REPO = Path.of("..").toAbsolutePath().normalize();

  @TempDir Path dir;
  private NodeProcesses nodes;
  private Path work;
  private Map<String, String> env;

  @BeforeEach
  void prepare() throws IOException {
    nodes = new NodeProcesses(dir.resolve("logs"));
    work = Files.createDirectories(dir.resolve("work"));
    Files.createSymbolicLink(work.resolve("examples"), REPO.resolve("examples"));
    env = new HashMap<>();
    env.put("PATH", torchPythonFirst(System.getenv("PATH")));
  }

  @AfterEach
  void killEverything() {
    if (nodes != null) nodes.close();
  }

  @Test
  void theExamplesLocalCommandTrainsWithPyTorchAndMinesItsHardExamples() throws Exception {
    List<String> command = command(REPO.resolve("examples/README.md"), "./quarry local");

    assertEquals(0, quarry("local", command), () -> nodes.tail("local"));

    RunFiles run = onlyRun();
    JsonNode completed = run.runCompleted();
    assertEquals("completed", completed.path("status").asText(), completed.toString());
    assertEquals(2, run.events("shard_completed").size(), "two workers, two shards");
    assertFalse(run.events("checkpoint").isEmpty(), "the script reports its checkpoints");
    // Each merge all-gathers the buffers of an interval (hard-examples.window = interval): which workers' samples a
    // merge holds depends on when each program printed its steps, so both workers are looked for across the merges.
    JsonNode last = lastMergeWithEntries(run);
    assertTrue(run.merges().stream().anyMatch(m -> m.path("entries").size() == 64), "hard-examples.k=64 fills a merge");
    java.util.Set<String> workers = new java.util.TreeSet<>();
    for (JsonNode merge : run.merges()) {
      for (JsonNode entry : merge.path("entries")) {
        long sampleId = entry.path("sample_id").asLong();
        assertTrue(sampleId >= 0 && sampleId < 8000, "a sample of process.samples=8000: " + entry);
        workers.add(entry.path("worker_id").asText());
      }
    }
    assertEquals(java.util.Set.of("local-0", "local-1"), workers, "both workers' per-sample losses reach the merges");
    // About 5% of the example's samples carry a wrong label: those are the hardest, far above a typical loss.
    assertTrue(last.path("entries").get(0).path("loss").asDouble() > 2.0, last.toString());
    assertTrue(Files.isRegularFile(run.dir.resolve("logs/0.log")), "the script's stderr is kept per shard");
  }

  @Test
  void theRunFileExampleResumesAFailedShardFromItsLastCheckpoint() throws Exception {
    List<String> command = command(REPO.resolve("README.md"), "./quarry local --workers 2 examples/pytorch/run.conf");
    // The script's own fault switch: each shard's first attempt exits with code 3 at step 120. It checkpoints every
    // 50 steps (run.conf) and at every epoch's end (63 steps of 64 samples: 4,000 per shard), so at steps 50, 63,
    // 100, 126, ...: the second attempt resumes from step 100.
    env.put("TRAIN_FAIL_AT_STEP", "120");

    assertEquals(0, quarry("local", command), () -> nodes.tail("local"));

    RunFiles run = onlyRun();
    JsonNode completed = run.runCompleted();
    assertEquals("completed", completed.path("status").asText(), completed.toString());
    assertEquals(2, run.events("shard_failed").size(), "each shard's first attempt failed on purpose");
    for (JsonNode started : run.events("shard_started")) {
      if (started.path("attempt").asInt() == 2) {
        assertEquals(100, started.path("start_step").asLong(), "resumed from the step-100 checkpoint: " + started);
      }
    }
    assertEquals(2, run.events("shard_started").stream().filter(e -> e.path("attempt").asInt() == 2).count());
    assertEquals(2 * 20, completed.path("steps_redone").asLong(), "steps 100..119 of each shard trained twice");
    String log = Files.readString(run.dir.resolve("logs/0.log"));
    assertTrue(log.contains("resumed from") && log.contains("step-100"), log);
  }

  @Test
  void theExamplesSubmitCommandRunsTheExampleOnACluster() throws Exception {
    List<String> command = command(REPO.resolve("examples/README.md"), "./quarry submit");
    int artery = NodeProcesses.freePort();
    int http = NodeProcesses.freePort();
    nodes.start("coordinator", work, env, "coordinator", "--port", "" + artery, "--http-port", "" + http);
    nodes.awaitLog("coordinator", "quarry coordinator node up", Duration.ofSeconds(60));
    // The worker's operator allows the example's python3 (the one first on the PATH the test set up).
    nodes.start("worker", work, env, "worker", "--seed-nodes", "127.0.0.1:" + artery, "--devices", "cpu,cpu",
        "--allow-program", onPath("python3", env.get("PATH")).toString());
    nodes.awaitLog("worker", "quarry worker node up", Duration.ofSeconds(60));
    // A user whose coordinator is not at the default address says where it is, the same way.
    env.put("QUARRY_COORDINATOR", "http://127.0.0.1:" + http);

    assertEquals(0, quarry("submit", command), () -> nodes.tail("submit") + "\n" + nodes.tail("coordinator"));

    RunFiles run = onlyRun();
    assertEquals("completed", run.runCompleted().path("status").asText());
    assertEquals(64, lastMergeWithEntries(run).path("entries").size());
  }

  @Test
  void theReadmesDdpCommandTrainsOneProcessGroupOfTwoRanks() throws Exception {
    List<String> command = command(REPO.resolve("README.md"), "./quarry local --workers 2 examples/pytorch/ddp.conf");

    assertEquals(0, quarry("local", command), () -> nodes.tail("local"));

    RunFiles run = onlyRun();
    assertEquals("completed", run.runCompleted().path("status").asText(), run.runCompleted().toString());
    assertEquals(1, run.events("group_started").size(), "one process group");
    java.util.regex.Pattern checksum = java.util.regex.Pattern.compile("param_checksum rank=\\d+ sum=(\\S+) abs=(\\S+)");
    List<String> sums = new ArrayList<>();
    for (int rank = 0; rank < 2; rank++) {
      java.util.regex.Matcher matcher = checksum.matcher(Files.readString(run.dir.resolve("logs/" + rank + ".log")));
      assertTrue(matcher.find(), "rank " + rank + " prints its checksum");
      sums.add(matcher.group(1) + " " + matcher.group(2));
    }
    assertEquals(sums.get(0), sums.get(1), "both ranks end with identical parameters");
    java.util.Set<String> workers = new java.util.TreeSet<>();
    for (JsonNode merge : run.merges()) {
      for (JsonNode entry : merge.path("entries")) workers.add(entry.path("worker_id").asText());
    }
    assertEquals(java.util.Set.of("local-0", "local-1"), workers, "hard examples of both ranks");
  }

  /** The first {@code program} on {@code path}, as a shell finds it ({@code command -v}). */
  static Path onPath(String program, String path) {
    for (String dir : path.split(":")) {
      Path candidate = Path.of(dir).resolve(program);
      if (!dir.isEmpty() && Files.isExecutable(candidate)) return candidate;
    }
    throw new AssertionError(program + " is not on " + path);
  }

  /** Runs {@code command} (a {@code ./quarry ...} command as words) in its own JVM; its exit code. */
  private int quarry(String name, List<String> command) throws Exception {
    assertEquals("./quarry", command.get(0), command.toString());
    Process process = nodes.start(name, work, env, command.subList(1, command.size()).toArray(new String[0]));
    if (!process.waitFor(8, TimeUnit.MINUTES)) throw new AssertionError(name + " did not end:\n" + nodes.tail(name));
    return process.exitValue();
  }

  private RunFiles onlyRun() throws IOException {
    try (Stream<Path> runs = Files.list(work.resolve("runs"))) {
      List<Path> dirs = runs.filter(p -> Files.isRegularFile(p.resolve("events.jsonl"))).toList();
      assertEquals(1, dirs.size(), dirs.toString());
      return new RunFiles(dirs.get(0));
    }
  }

  private static JsonNode lastMergeWithEntries(RunFiles run) {
    List<JsonNode> merges = run.merges().stream().filter(m -> m.path("entries").size() > 0).toList();
    assertFalse(merges.isEmpty(), "no merge had entries");
    return merges.get(merges.size() - 1);
  }

  /**
   * The first command in {@code markdown} that starts with {@code prefix}, from an indented code block, with its
   * continuation lines joined, split into words as a POSIX shell splits them.
   */
  static List<String> command(Path markdown, String prefix) throws IOException {
    List<String> lines = Files.readAllLines(markdown);
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (!lines.get(i).startsWith("    ") || !line.startsWith(prefix)) continue;
      StringBuilder text = new StringBuilder();
      while (line.endsWith("\\")) {
        text.append(line, 0, line.length() - 1).append(' ');
        line = lines.get(++i).strip();
      }
      text.append(line.replaceFirst("\\s+#.*$", "")); // a trailing comment, as the README writes them
      return words(text.toString());
    }
    throw new AssertionError("no command starting with '" + prefix + "' in " + markdown);
  }

  /** Splits a command line into words: blanks separate, single and double quotes group, a backslash escapes. */
  static List<String> words(String line) {
    List<String> words = new ArrayList<>();
    StringBuilder word = null;
    char quote = 0;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (quote == '\'') {
        if (c == '\'') quote = 0;
        else word.append(c);
      } else if (quote == '"') {
        if (c == '"') quote = 0;
        else if (c == '\\' && i + 1 < line.length() && "\"\\$`".indexOf(line.charAt(i + 1)) >= 0) word.append(line.charAt(++i));
        else word.append(c);
      } else if (Character.isWhitespace(c)) {
        if (word != null) words.add(word.toString());
        word = null;
      } else {
        if (word == null) word = new StringBuilder();
        if (c == '\'' || c == '"') quote = c;
        else if (c == '\\' && i + 1 < line.length()) word.append(line.charAt(++i));
        else word.append(c);
      }
    }
    if (quote != 0) throw new IllegalArgumentException("unbalanced quote in: " + line);
    if (word != null) words.add(word.toString());
    return words;
  }

  /**
   * {@code path} with the directory of a {@code python3} that imports torch first: {@code python3} on the path when
   * it has torch, else Debian's {@code /usr/bin/python3} (where {@code python3-torch} installs it). Fails, naming the
   * set-up script, when neither has torch.
   */
  static String torchPythonFirst(String path) {
    if (importsTorch("python3")) return path;
    if (importsTorch("/usr/bin/python3")) return "/usr/bin:" + path;
    throw new AssertionError("no python3 with torch: neither python3 on the PATH nor /usr/bin/python3 imports torch; "
        + "scripts/install-test-deps.sh installs Debian's python3-torch");
  }

  private static boolean importsTorch(String python) {
    try {
      Process process = new ProcessBuilder(python, "-c", "import torch").redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      return process.waitFor(120, TimeUnit.SECONDS) && process.exitValue() == 0;
    } catch (IOException e) {
      return false; // no such program
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
