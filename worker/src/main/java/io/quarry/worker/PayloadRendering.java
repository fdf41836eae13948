package io.quarry.worker;

import com.typesafe.config.Config;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.RunCommand.HardExamplePayloads;
import io.quarry.worker.trainer.Payload;
import io.quarry.worker.trainer.PayloadRenderer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.agrona.collections.LongHashSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's side of hard-example payloads: which entries of a merged buffer it renders, and rendering them
 * into {@link HardExamplePayloads} messages of bounded size. Plain logic; the worker runs {@link #renderAndSend}
 * on its payload dispatcher, since a renderer may read files or decode images.
 */
final class PayloadRendering {
  private static final Logger LOG = LoggerFactory.getLogger(PayloadRendering.class);
  /**
   * What one payload adds to a message beyond its bytes (class id, sample id, label, prediction, array length),
   * rounded up: counted so that many tiny payloads cannot add up to a message over the frame size.
   */
  static final int OVERHEAD_BYTES = 32;

  /**
   * {@code quarry.worker.payloads}.
   *
   * @param maxBytes a rendered payload larger than this is dropped, not sent
   * @param maxPerRun payloads one worker renders for one run at most
   * @param batchBytes payload bytes (with {@link #OVERHEAD_BYTES} each) per message, so that a message stays well
   *     under Artery's frame size
   */
  record Limits(int maxBytes, int maxPerRun, int batchBytes) {
    /** What one message's fields take besides its payloads: run and worker ids, merge, counts. */
    static final int MESSAGE_FIELD_BYTES = 2048;

    static Limits from(Config config) {
      return new Limits(
          (int) Math.min(Integer.MAX_VALUE, config.getBytes("max-bytes")),
          config.getInt("max-per-run"),
          (int) Math.min(Integer.MAX_VALUE, config.getBytes("batch-bytes")));
    }

    /**
     * These limits with {@code batchBytes} no larger than what a message of {@code messageBytes} holds: a payload
     * larger than that is dropped (counted as failed) rather than sent in a message Artery would drop.
     */
    Limits fitTo(int messageBytes) {
      return new Limits(maxBytes, maxPerRun, Math.min(batchBytes, messageBytes - MESSAGE_FIELD_BYTES));
    }
  }

  private PayloadRendering() {}

  /** This worker's entries of a merged buffer, in its order; empty when it contributed none. */
  static List<HardExample> own(List<HardExample> merged, String workerId) {
    List<HardExample> own = new ArrayList<>();
    for (HardExample entry : merged) {
      if (workerId.equals(entry.workerId())) own.add(entry);
    }
    return own;
  }

  /**
   * The entries of {@code own} whose payload this worker has not rendered yet for the run, as many as
   * {@code maxPerRun} still allows; they are added to {@code rendered}, so a sample is rendered once even when it
   * survives many merges (or the renderer fails on it).
   */
  static List<HardExample> unrendered(List<HardExample> own, LongHashSet rendered, int maxPerRun) {
    List<HardExample> next = new ArrayList<>();
    for (HardExample entry : own) {
      if (rendered.size() >= maxPerRun) break;
      if (rendered.add(entry.sampleId())) next.add(entry);
    }
    return next;
  }

  /**
   * Renders {@code entries} and sends their payloads in messages of at most {@code limits.batchBytes()} (or one
   * payload). The last message, with {@code last} set and the count of entries that could not be
   * rendered, is always sent, also when {@code renderer} is null or {@code entries} is empty: the run waits for it
   * at its final merge.
   */
  static void renderAndSend(String runId, int merge, String workerId, List<HardExample> entries,
      PayloadRenderer renderer, Limits limits, Consumer<HardExamplePayloads> send) {
    List<HardExamplePayload> batch = new ArrayList<>();
    long batchBytes = 0;
    int failed = 0;
    String firstError = null;
    try {
      if (renderer == null) return;
      for (HardExample entry : entries) {
        HardExamplePayload payload;
        try {
          Payload rendered = renderer.render(entry.sampleId());
          if (rendered == null) continue;
          payload = toWire(entry, rendered);
        } catch (Exception e) {
          failed++;
          if (firstError == null) firstError = "sample " + entry.sampleId() + ": " + e;
          continue;
        }
        if (payload.sizeBytes() > limits.maxBytes()) {
          failed++;
          if (firstError == null) {
            firstError = "sample " + entry.sampleId() + ": " + payload.sizeBytes() + " bytes, over "
                + "quarry.worker.payloads.max-bytes = " + limits.maxBytes();
          }
          continue;
        }
        long size = payload.sizeBytes() + OVERHEAD_BYTES;
        if (size > limits.batchBytes()) {
          failed++;
          if (firstError == null) {
            firstError = "sample " + entry.sampleId() + ": " + payload.sizeBytes() + " bytes, over the " + limits.batchBytes()
                + " a message may hold (quarry.worker.payloads.batch-bytes, or the transport's frame size)";
          }
          continue;
        }
        if (!batch.isEmpty() && batchBytes + size > limits.batchBytes()) {
          send.accept(new HardExamplePayloads(runId, merge, workerId, batch, 0, false));
          batch = new ArrayList<>();
          batchBytes = 0;
        }
        batch.add(payload);
        batchBytes += size;
      }
    } finally {
      if (failed > 0) {
        LOG.warn("worker {}: {} of {} hard-example payload(s) of merge {} of run {} not rendered; first: {}", workerId,
            failed, entries.size(), merge, runId, firstError);
      }
      send.accept(new HardExamplePayloads(runId, merge, workerId, batch, failed, true));
    }
  }

  private static HardExamplePayload toWire(HardExample entry, Payload payload) {
    if (payload instanceof Payload.Image image) {
      return new HardExamplePayload.Png(entry.sampleId(), entry.label(), entry.predicted(), image.png());
    }
    Payload.Features features = (Payload.Features) payload; // the only other kind: Payload is sealed
    return new HardExamplePayload.Features(entry.sampleId(), entry.label(), entry.predicted(), features.values());
  }
}
