package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.RunCommand.HardExamplePayloads;
import io.quarry.worker.trainer.Payload;
import io.quarry.worker.trainer.PayloadRenderer;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.LongStream;
import org.agrona.collections.LongHashSet;
import org.junit.jupiter.api.Test;

class PayloadRenderingTest {
  private static final PayloadRendering.Limits LIMITS = new PayloadRendering.Limits(1000, 100, 2500);

  private static List<HardExample> entries(String workerId, long... ids) {
    return LongStream.of(ids).mapToObj(id -> new HardExample(id, 1f, workerId, 0, (int) id % 3, 1)).toList();
  }

  private static List<HardExamplePayloads> render(List<HardExample> entries, PayloadRenderer renderer) {
    List<HardExamplePayloads> sent = new ArrayList<>();
    PayloadRendering.renderAndSend("r", 4, "w", entries, renderer, LIMITS, sent::add);
    return sent;
  }

  @Test
  void takesOnlyTheWorkersOwnEntries() {
    List<HardExample> merged = new ArrayList<>(entries("w", 1, 2));
    merged.addAll(entries("w2", 3));
    merged.addAll(entries("w", 4));

    assertEquals(List.of(1L, 2L, 4L), PayloadRendering.own(merged, "w").stream().map(HardExample::sampleId).toList());
    assertTrue(PayloadRendering.own(merged, "w3").isEmpty());
  }

  @Test
  void rendersEachSampleOnceAndNoMoreThanTheCapPerRun() {
    LongHashSet rendered = new LongHashSet();
    assertEquals(3, PayloadRendering.unrendered(entries("w", 1, 2, 3), rendered, 4).size());

    List<HardExample> next = PayloadRendering.unrendered(entries("w", 2, 3, 4, 5, 6), rendered, 4);

    assertEquals(List.of(4L), next.stream().map(HardExample::sampleId).toList(), "1-3 were rendered; the cap is 4");
    assertEquals(4, rendered.size());
  }

  @Test
  void splitsPayloadsIntoMessagesOfBoundedSizeAndMarksTheLast() {
    List<HardExamplePayloads> sent = render(entries("w", 1, 2, 3, 4, 5), id -> Payload.png(new byte[900]));

    assertEquals(List.of(2, 2, 1), sent.stream().map(m -> m.payloads().size()).toList(), "2 x (900 + 32) bytes per 2500");
    assertEquals(List.of(false, false, true), sent.stream().map(HardExamplePayloads::last).toList());
    HardExamplePayload first = sent.get(0).payloads().get(0);
    assertEquals(1, first.sampleId());
    assertEquals(1, first.label(), "label and prediction come from the merged entry");
    assertEquals(1, first.predicted());
    assertEquals(4, sent.get(2).merge());
  }

  @Test
  void countsEachPayloadsOverheadSoThatTinyOnesStillMakeBoundedMessages() {
    List<HardExamplePayloads> sent = render(entries("w", LongStream.range(0, 100).toArray()),
        id -> Payload.features(new float[1]));

    int perMessage = 2500 / (4 + PayloadRendering.OVERHEAD_BYTES);
    assertEquals(perMessage, sent.get(0).payloads().size());
    assertEquals(100, sent.stream().mapToInt(m -> m.payloads().size()).sum());
  }

  @Test
  void dropsWhatFailsOrIsTooBigAndCountsIt() {
    List<HardExamplePayloads> sent = render(entries("w", 1, 2, 3, 4), id -> {
      if (id == 1) throw new IllegalStateException("no such file");
      if (id == 2) return Payload.png(new byte[1001]);
      if (id == 3) return null;
      return Payload.features(new float[] {1f, 2f});
    });

    assertEquals(1, sent.size());
    assertTrue(sent.get(0).last());
    assertEquals(2, sent.get(0).failed(), "the exception and the oversized one; null means no payload");
    assertEquals(List.of(4L), sent.get(0).payloads().stream().map(HardExamplePayload::sampleId).toList());
  }

  @Test
  void sendsTheLastMessageEvenWithoutARendererOrWhenTheRendererThrowsAnError() {
    List<HardExamplePayloads> none = render(entries("w", 1), null);
    assertEquals(1, none.size());
    assertTrue(none.get(0).last() && none.get(0).payloads().isEmpty());

    List<HardExamplePayloads> sent = new ArrayList<>();
    try {
      PayloadRendering.renderAndSend("r", 0, "w", entries("w", 1), id -> {
        throw new StackOverflowError();
      }, LIMITS, sent::add);
    } catch (StackOverflowError expected) {
      // an Error is not the renderer's to swallow; the run still gets its last message
    }
    assertEquals(1, sent.size());
    assertTrue(sent.get(0).last());
    assertFalse(sent.get(0).payloads().iterator().hasNext());
  }
}
