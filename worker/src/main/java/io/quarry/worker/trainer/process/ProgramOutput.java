package io.quarry.worker.trainer.process;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.quarry.worker.trainer.TrainerContext;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Turns a program's stdout, line by line, into Quarry's telemetry, hard examples and checkpoint reports. Runs on
 * the stdout reader's thread while the program runs and on the training thread once that takes it over (see
 * {@link ProcessTrainer}): one thread at a time, handed over under a lock, so the context sees one producer.
 *
 * <p>A line that starts with <code>{</code> is a JSON event: {@code step}, {@code epoch}, {@code eval},
 * {@code checkpoint} or {@code run_completed} (see examples/README.md for the fields). Any other line is a plain
 * log line searched for metrics by {@link PlainLogMetrics}: one with {@code loss} becomes a step event (at the
 * line's {@code step}/{@code epoch}, or the last ones seen when it has none), one with {@code val_loss} an
 * evaluation, and one with only other metrics just updates the last step/epoch/lr. Metrics named in
 * {@code process.metrics} are recognised (the line counts as understood) but go nowhere further: Quarry's
 * telemetry events carry only loss, lr, throughput and the evaluation scalars.
 *
 * <p>A line that is none of these (bad JSON, an unknown or incomplete event, text without metrics) is counted
 * in {@link #unparsedLines()} and otherwise ignored: a program's chatter never fails a shard.
 *
 * <p>Step events honour {@code telemetry.every-steps} like the stub trainer does; per-sample losses always reach
 * the hard-example sink. This is not a hot path in the JVM's sense (one program line per step at most), so
 * it allocates per line for clarity.
 */
final class ProgramOutput {
  /** Doubles parsed by FastDoubleParser (exact, like the JDK's, at about twice the speed: a step line is mostly losses). */
  private static final ObjectMapper JSON = JsonMapper.builder().enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER).build();

  private final TrainerContext context;
  private final PlainLogMetrics plainLog;
  private final int telemetryEverySteps;

  private long lastStep = -1;
  private int lastEpoch;
  private float lastLr = Float.NaN;
  private long lastStepEventNs;
  private long stepsTrained;
  private long samplesTrained;
  private float finalLoss = Float.NaN;
  private long unparsedLines;
  private boolean runCompletedSeen;

  ProgramOutput(TrainerContext context, List<String> extraMetrics) {
    this.context = context;
    this.plainLog = new PlainLogMetrics(extraMetrics);
    this.telemetryEverySteps = context.config().telemetry.everySteps();
  }

  /** Handles one line of stdout (without its line terminator). */
  void accept(String line) {
    String trimmed = line.strip();
    boolean understood = trimmed.startsWith("{") ? acceptJson(trimmed) : acceptPlain(trimmed);
    if (!understood) unparsedLines++;
  }

  /** The highest step reported, or -1 before the first. */
  long lastStep() {
    return lastStep;
  }

  /** Step events seen in this attempt. */
  long stepsTrained() {
    return stepsTrained;
  }

  /** Samples reported through step events' {@code sample_ids} in this attempt. */
  long samplesTrained() {
    return samplesTrained;
  }

  /** The last step's loss, or NaN before the first step. */
  float finalLoss() {
    return finalLoss;
  }

  /** Lines that were neither a known JSON event nor a plain line with metrics. */
  long unparsedLines() {
    return unparsedLines;
  }

  /** True once the program printed {@code {"type":"run_completed"}}; informational, the exit code decides. */
  boolean runCompletedSeen() {
    return runCompletedSeen;
  }

  private boolean acceptJson(String line) {
    JsonNode event;
    try {
      event = JSON.readTree(line);
    } catch (JsonProcessingException e) {
      return false;
    }
    if (event == null || !event.isObject()) return false;
    return switch (event.path("type").asText("")) {
      case "step" -> jsonStep(event);
      case "epoch" -> jsonEpoch(event);
      case "eval" -> jsonEval(event);
      case "checkpoint" -> jsonCheckpoint(event);
      case "run_completed" -> runCompletedSeen = true;
      default -> false;
    };
  }

  private boolean jsonStep(JsonNode event) {
    JsonNode step = event.get("step");
    JsonNode loss = event.get("loss");
    if (!isIntegral(step) || loss == null || !loss.isNumber()) return false;
    JsonNode ids = event.get("sample_ids");
    JsonNode losses = event.get("losses");
    long[] sampleIds = null;
    float[] sampleLosses = null;
    if (ids != null || losses != null) {
      // Both or neither, of the same length: a half-formed batch is refused as a whole rather than half-used.
      if (ids == null || losses == null || !ids.isArray() || !losses.isArray() || ids.size() != losses.size()) return false;
      sampleIds = new long[ids.size()];
      sampleLosses = new float[ids.size()];
      for (int i = 0; i < sampleIds.length; i++) {
        if (!isIntegral(ids.get(i)) || !losses.get(i).isNumber()) return false;
        sampleIds[i] = ids.get(i).asLong();
        sampleLosses[i] = (float) losses.get(i).asDouble();
      }
    }
    int epoch = isIntegral(event.get("epoch")) ? event.get("epoch").asInt() : lastEpoch;
    float lr = number(event.get("lr"), lastLr);
    float samplesPerSec = number(event.get("samples_per_sec"), Float.NaN);
    step(step.asLong(), epoch, (float) loss.asDouble(), lr, samplesPerSec, sampleIds, sampleLosses);
    return true;
  }

  private boolean jsonEpoch(JsonNode event) {
    if (!isIntegral(event.get("epoch"))) return false;
    lastEpoch = event.get("epoch").asInt();
    long step = isIntegral(event.get("step")) ? event.get("step").asLong() : Math.max(lastStep, 0);
    float meanLoss = number(event.get("mean_loss"), number(event.get("loss"), Float.NaN));
    context.telemetry().epoch(step, lastEpoch, meanLoss);
    return true;
  }

  private boolean jsonEval(JsonNode event) {
    JsonNode valLoss = event.get("val_loss");
    if (valLoss == null || !valLoss.isNumber()) return false;
    long step = isIntegral(event.get("step")) ? event.get("step").asLong() : Math.max(lastStep, 0);
    int epoch = isIntegral(event.get("epoch")) ? event.get("epoch").asInt() : lastEpoch;
    context.telemetry().eval(step, epoch, (float) valLoss.asDouble(), number(event.get("val_accuracy"), Float.NaN));
    return true;
  }

  private boolean jsonCheckpoint(JsonNode event) {
    JsonNode step = event.get("step");
    JsonNode path = event.get("path");
    if (!isIntegral(step) || path == null || !path.isTextual() || path.asText().isBlank()) return false;
    Path checkpoint;
    try {
      // The program wrote it: trust it, but a relative path means "inside my checkpoint dir".
      checkpoint = context.checkpointDir().resolve(path.asText());
    } catch (InvalidPathException e) {
      return false;
    }
    context.checkpointSaved(step.asLong(), checkpoint);
    return true;
  }

  private boolean acceptPlain(String line) {
    if (line.isEmpty()) return false;
    Map<String, Double> metrics = plainLog.parse(line);
    if (metrics.isEmpty()) return false;
    Double step = metrics.get("step");
    Double epoch = metrics.get("epoch");
    Double lr = metrics.get("lr");
    if (epoch != null && Double.isFinite(epoch)) lastEpoch = (int) Math.round(epoch);
    if (lr != null) lastLr = lr.floatValue();
    long atStep = step != null && Double.isFinite(step) ? Math.round(step) : Math.max(lastStep, 0);
    Double loss = metrics.get("loss");
    if (loss != null) {
      step(atStep, lastEpoch, loss.floatValue(), lastLr, Float.NaN, null, null);
    } else if (step != null && Double.isFinite(step)) {
      lastStep = Math.max(lastStep, atStep);
    }
    Double valLoss = metrics.get("val_loss");
    if (valLoss != null) {
      Double accuracy = metrics.get("val_accuracy");
      context.telemetry().eval(atStep, lastEpoch, valLoss.floatValue(), accuracy == null ? Float.NaN : accuracy.floatValue());
    }
    return true;
  }

  private void step(long step, int epoch, float loss, float lr, float samplesPerSec, long[] sampleIds, float[] losses) {
    long now = System.nanoTime();
    int count = sampleIds == null ? 0 : sampleIds.length;
    if (Float.isNaN(samplesPerSec)) {
      samplesPerSec = count > 0 && lastStepEventNs != 0 && now > lastStepEventNs ? (float) (count * 1e9 / (now - lastStepEventNs)) : 0f;
    }
    lastStepEventNs = now;
    if (count > 0) context.hardExamples().offer(sampleIds, losses, count, step);
    if (step % telemetryEverySteps == 0) context.telemetry().step(step, epoch, loss, lr, samplesPerSec);
    lastStep = Math.max(lastStep, step);
    lastEpoch = epoch;
    lastLr = lr;
    stepsTrained++;
    samplesTrained += count;
    finalLoss = loss;
  }

  private static boolean isIntegral(JsonNode node) {
    return node != null && (node.isIntegralNumber() || (node.isNumber() && node.asDouble() == Math.rint(node.asDouble())));
  }

  private static float number(JsonNode node, float fallback) {
    return node != null && node.isNumber() ? (float) node.asDouble() : fallback;
  }
}
