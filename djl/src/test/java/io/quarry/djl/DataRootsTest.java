package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.protocol.WorkerAllowance;
import io.quarry.worker.RunPermissions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A worker reads a djl run's dataset only under its data roots ({@link RunPermissions} with the djl trainer's spec). */
class DataRootsTest {
  @TempDir Path dir;

  private RunPermissions permissions(List<String> programs, List<String> roots) {
    return new RunPermissions(new WorkerAllowance(false, programs, roots), "/usr/bin", dir);
  }

  @Test
  void dataIsReadOnlyUnderTheDataRoots() throws Exception {
    Path data = Files.createDirectories(dir.resolve("data"));
    Path csv = Files.writeString(data.resolve("x.csv"), "1,0\n2,1\n");
    Files.createSymbolicLink(data.resolve("passwd.csv"), Path.of("/etc/passwd"));
    RunPermissions permissions = permissions(List.of(), List.of(data.toString()));
    RunConfig inside = RunConfig.fromOverrides(List.of("trainer=djl", "model.type=mlp", "dataset.format=csv",
        "dataset.path=\"" + csv + "\""), Map.of());
    assertEquals(Optional.empty(), permissions.refusal(inside));
    for (String path : List.of("/etc/passwd", data.resolve("passwd.csv").toString(), data + "/../other.csv")) {
      RunConfig outside = RunConfig.fromOverrides(List.of("trainer=djl", "model.type=mlp", "dataset.format=csv",
          "dataset.path=\"" + path + "\""), Map.of());
      String refusal = permissions.refusal(outside).orElseThrow(() -> new AssertionError(path));
      assertTrue(refusal.contains("'dataset.path'") && refusal.contains(path) && refusal.contains(data.toString())
          && refusal.contains("--data-root"), refusal);
    }
    assertEquals(Optional.empty(), permissions(List.of(), List.of()).refusal(RunConfig.parse("trainer = djl")),
        "synthetic data reads no file");
  }
}
