package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class RunReportTest {
  private static String print(List<RunReport.Hardest> hardest) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    RunReport.print(new PrintStream(bytes, true, StandardCharsets.UTF_8), "r", "completed", 10, 1000, 5.0, 2, 0, 0,
        "", "", 0.9375, 0.25, hardest, "runs/r");
    return bytes.toString(StandardCharsets.UTF_8);
  }

  @Test
  void theHardestShowTheirLabelAndPredictionWhenTheTrainerReportedThem() {
    String printed = print(List.of(
        new RunReport.Hardest(17, 9.5f, "local-0", 12, 3, 8),
        new RunReport.Hardest(4, 7.25f, "local-1", 3, -1, -1)));

    assertTrue(printed.contains("label") && printed.contains("predicted"), printed);
    String first = printed.lines().filter(l -> l.contains(" 17 ")).findFirst().orElseThrow();
    assertTrue(first.matches(".*9\\.5000\\s+3\\s+8\\s+local-0.*"), first);
    String second = printed.lines().filter(l -> l.contains(" 4 ") && l.contains("local-1")).findFirst().orElseThrow();
    assertTrue(second.matches(".*7\\.2500\\s+-\\s+-\\s+local-1.*"), second);
  }

  @Test
  void withoutLabelsTheTableKeepsItsColumns() {
    String printed = print(List.of(new RunReport.Hardest(17, 9.5f, "local-0", 12, -1, -1)));

    assertTrue(printed.contains("sample_id"), printed);
    assertFalse(printed.contains("predicted"), printed);
  }

  @Test
  void theValidationScoresFollowTheHeadline() {
    String printed = print(List.of());
    assertTrue(printed.lines().skip(1).findFirst().orElse("").equals("validation: accuracy 0.9375, loss 0.2500"), printed);
  }

  @Test
  void aRunWithoutHardExamplesSaysSoUnderItsHeadline() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    RunReport.headline(new PrintStream(bytes, true, StandardCharsets.UTF_8), "r", "completed", 10, 1000, 5.0, 2, 0, 0,
        "", "no hard examples: all 2 merges left every worker out");

    assertTrue(bytes.toString(StandardCharsets.UTF_8).contains(
        "\nwarning: no hard examples: all 2 merges left every worker out"), bytes.toString(StandardCharsets.UTF_8));
  }
}
