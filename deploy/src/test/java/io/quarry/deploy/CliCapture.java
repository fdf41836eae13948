package io.quarry.deploy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** Captures standard output and error around each test of the launcher. */
abstract class CliCapture {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();
  private PrintStream originalOut;
  private PrintStream originalErr;

  @BeforeEach
  void capture() {
    originalOut = System.out;
    originalErr = System.err;
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @AfterEach
  void restore() {
    System.setOut(originalOut);
    System.setErr(originalErr);
  }

  /** What the launcher printed, without the test logging configuration's actor log lines (HH:mm:ss.SSS LEVEL ...). */
  String stdout() {
    return out.toString(StandardCharsets.UTF_8).lines()
        .filter(line -> !line.matches("\\d\\d:\\d\\d:\\d\\d[.,]\\d{3} +(\\|-|TRACE|DEBUG|INFO|WARN|ERROR).*"))
        .map(line -> line + "\n").collect(java.util.stream.Collectors.joining());
  }

  String stderr() {
    return err.toString(StandardCharsets.UTF_8);
  }
}
