package io.quarry.protocol;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class WorkerAllowanceTest {
  private final WorkerAllowance allowance =
      new WorkerAllowance(false, List.of("/usr/bin/python3", "/opt/train"), List.of("/data"));

  @Test
  void aProgramIsAllowedByItsPathItsDirectoryOrItsNameOnThePath() {
    assertTrue(allowance.mayAllow("/usr/bin/python3"));
    assertTrue(allowance.mayAllow("python3"), "a bare name: the worker looks it up on its PATH");
    assertTrue(allowance.mayAllow("/opt/train/run.sh"));
    assertTrue(allowance.mayAllow("/opt/train/sub/run.sh"));
  }

  @Test
  void anythingElseIsNot() {
    assertFalse(allowance.mayAllow("/bin/sh"));
    assertFalse(allowance.mayAllow("sh"));
    assertFalse(allowance.mayAllow("/usr/bin/python3.11"));
    assertFalse(allowance.mayAllow("/opt/training/run.sh"), "a sibling whose name starts alike is no subdirectory");
    assertFalse(allowance.mayAllow("/opt/train/../../bin/sh"), "no way out of an allowed directory");
    assertFalse(allowance.mayAllow("bin/python3"), "a relative path is not a bare name");
    assertFalse(WorkerAllowance.NOTHING.mayAllow("python3"));
    assertTrue(new WorkerAllowance(true, List.of(), List.of()).mayAllow("/bin/sh"));
  }
}
