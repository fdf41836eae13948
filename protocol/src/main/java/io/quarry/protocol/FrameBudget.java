package io.quarry.protocol;

import com.typesafe.config.Config;

/**
 * How large one message may be on this node's transport: Artery drops a message whose serialized form, with its
 * envelope (sender, recipient, serializer id), is over {@code pekko.remote.artery.advanced.maximum-frame-size}
 * ({@code OversizedPayloadException}, logged on the sender only). Everything whose size grows with config is cut
 * into messages of at most {@link #messageBytes} serialized bytes; {@link #HEADROOM_BYTES} of each frame are left to
 * the envelope and to what a message's size estimate does not count (actor paths).
 *
 * <p>The frame size is per node; every node of a cluster runs the same transport with the same settings (over
 * {@code aeron-udp} the frame is also capped at an eighth of Aeron's term buffer), so what one node cuts, the others
 * accept.
 */
public final class FrameBudget {
  /** Artery's limit on one message (frame), in bytes. */
  public static final String FRAME_KEY = "pekko.remote.artery.advanced.maximum-frame-size";
  /** Artery's default frame (pekko-remote's reference.conf), for a config without remoting. */
  public static final int DEFAULT_FRAME_BYTES = 256 * 1024;
  /** Bytes of every frame left to the envelope: recipient and sender paths, serializer id, manifest, headers. */
  public static final int HEADROOM_BYTES = 8 * 1024;
  /** The smallest frame Artery accepts (it refuses to start below it). */
  public static final int MIN_FRAME_BYTES = 32 * 1024;

  private FrameBudget() {}

  /** The frame size {@code config} gives this node's transport (Artery's default when it has none). */
  public static int frameBytes(Config config) {
    if (!config.hasPath(FRAME_KEY)) return DEFAULT_FRAME_BYTES;
    return (int) Math.min(Integer.MAX_VALUE, config.getBytes(FRAME_KEY));
  }

  /** The most serialized bytes one message of Quarry's may take on this node: the frame less the headroom. */
  public static int messageBytes(Config config) {
    return messageBytes(frameBytes(config));
  }

  /** The most serialized bytes one message may take in a frame of {@code frameBytes}. */
  public static int messageBytes(int frameBytes) {
    return Math.max(MIN_FRAME_BYTES, frameBytes) - HEADROOM_BYTES;
  }
}
