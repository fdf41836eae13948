package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.protocol.WorkerAllowance;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunPermissionsTest {
  @TempDir Path dir;
  private Path bin;
  private Path tools;
  private Path train;

  @BeforeEach
  void programs() throws Exception {
    bin = Files.createDirectories(dir.resolve("bin"));
    tools = Files.createDirectories(dir.resolve("tools"));
    train = executable(bin.resolve("train"));
    executable(bin.resolve("evil"));
    executable(tools.resolve("prep"));
    Files.createSymbolicLink(bin.resolve("train-link"), train);
  }

  private static Path executable(Path file) throws Exception {
    Files.writeString(file, "#!/bin/sh\nexit 0\n");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    return file;
  }

  private RunPermissions permissions(List<String> programs, List<String> roots) {
    return new RunPermissions(new WorkerAllowance(false, programs, roots), bin.toString(), dir);
  }

  private static RunConfig process(String program) {
    return RunConfig.fromOverrides(List.of("trainer=process", "process.command=[\"" + program + "\", \"--x\"]"), Map.of());
  }

  @Test
  void anAllowedProgramRunsByNameByPathOrThroughALink() {
    RunPermissions permissions = permissions(List.of(train.toString(), tools.toString()), List.of());
    assertEquals(Optional.empty(), permissions.refusal(process("train")), "found on PATH");
    assertEquals(Optional.empty(), permissions.refusal(process(train.toString())));
    assertEquals(Optional.empty(), permissions.refusal(process(bin.resolve("train-link").toString())), "a link to it");
    assertEquals(Optional.empty(), permissions.refusal(process(tools.resolve("prep").toString())), "under an allowed dir");
  }

  @Test
  void anythingElseIsRefusedNamingTheProgramAndHowToAllowIt() {
    RunPermissions permissions = permissions(List.of(train.toString()), List.of());
    for (String program : List.of("evil", "/bin/sh", bin.resolve("../tools/prep").toString(), "nosuch", "{run_id}")) {
      String refusal = permissions.refusal(process(program)).orElseThrow(() -> new AssertionError(program));
      assertTrue(refusal.contains("'" + program + "'") && refusal.contains("--allow-program"), refusal);
    }
    String none = permissions(List.of(), List.of()).refusal(process("train")).orElseThrow();
    assertTrue(none.contains("no program (this worker's list is empty)"), none);
    assertEquals(Optional.empty(), new RunPermissions(new WorkerAllowance(true, List.of(), List.of()), bin.toString(), dir)
        .refusal(process("/bin/sh")), "local mode allows what its user runs");
  }
}
