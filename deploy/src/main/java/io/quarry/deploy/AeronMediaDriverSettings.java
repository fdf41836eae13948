package io.quarry.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

/**
 * Sizes and places the embedded Aeron media driver of a node that runs Artery over {@code aeron-udp}.
 *
 * <p>Aeron keeps every publication and every image (the receiving side of a peer's publication) as a log of three
 * terms in memory-mapped files under its directory, normally on {@code /dev/shm}: a node with P peers holds
 * 4 x P logs (control and ordinary stream, each way) of 3 x term-buffer-length, plus 8 MiB of driver files. Aeron's
 * default term (16 MiB) makes that 200 MiB for one peer, more than a container's default 64 MiB {@code /dev/shm};
 * Quarry's default (see
 * {@code quarry.transport.aeron.term-buffer-length} in cluster.conf) keeps a node of a small cluster inside it.
 */
final class AeronMediaDriverSettings {
  static final String TERM_BUFFER_KEY = "quarry.transport.aeron.term-buffer-length";
  /** The system property Aeron's media driver reads its publication term length from (pekko-remote's reference.conf). */
  static final String TERM_BUFFER_PROPERTY = "aeron.term.buffer.length";
  static final String AERON_DIR_KEY = "pekko.remote.artery.advanced.aeron.aeron-dir";
  static final String FRAME_KEY = "pekko.remote.artery.advanced.maximum-frame-size";
  static final String LARGE_FRAME_KEY = "pekko.remote.artery.advanced.maximum-large-frame-size";
  /** Aeron's bounds on a term: a power of two from 64 KiB to 1 GiB. */
  static final long MIN_TERM_BYTES = 64L * 1024;
  static final long MAX_TERM_BYTES = 1024L * 1024 * 1024;
  private static final Path SHM = Path.of("/dev/shm");

  private AeronMediaDriverSettings() {}

  /**
   * The node's config with its Aeron settings filled in: a media-driver directory of its own (unless
   * {@code aeron-dir} is set), and Artery's frame sizes capped at what a term holds (Aeron's largest message is
   * 1/8 of a term). Sets the {@value #TERM_BUFFER_PROPERTY} system property, which the media driver reads when the
   * actor system starts it.
   */
  static Config apply(Config config) {
    long termBytes = termBufferBytes(config);
    System.setProperty(TERM_BUFFER_PROPERTY, Long.toString(termBytes));
    long maxMessageBytes = termBytes / 8;
    Config adjusted = config
        .withValue(FRAME_KEY, ConfigValueFactory.fromAnyRef(Math.min(config.getBytes(FRAME_KEY), maxMessageBytes)))
        .withValue(LARGE_FRAME_KEY,
            ConfigValueFactory.fromAnyRef(Math.min(config.getBytes(LARGE_FRAME_KEY), maxMessageBytes)));
    if (config.getString(AERON_DIR_KEY).isBlank()) {
      adjusted = adjusted.withValue(AERON_DIR_KEY, ConfigValueFactory.fromAnyRef(newDirectory().toString()));
    }
    return adjusted;
  }

  /** The configured term length, checked against Aeron's rules (an error names the key and what is allowed). */
  static long termBufferBytes(Config config) {
    long bytes;
    try {
      bytes = config.getBytes(TERM_BUFFER_KEY);
    } catch (ConfigException.BadValue | ConfigException.WrongType e) {
      throw new IllegalArgumentException(TERM_BUFFER_KEY + " (env QUARRY_AERON_TERM_BUFFER): '"
          + config.getValue(TERM_BUFFER_KEY).unwrapped() + "' is not a size; allowed: a power of two from 64KiB to 1GiB,"
          + " e.g. 1MiB or 4MiB");
    }
    if (bytes < MIN_TERM_BYTES || bytes > MAX_TERM_BYTES || Long.bitCount(bytes) != 1) {
      throw new IllegalArgumentException(TERM_BUFFER_KEY + " (env QUARRY_AERON_TERM_BUFFER): " + bytes
          + " bytes is not allowed; allowed: a power of two from 64KiB to 1GiB, e.g. 1MiB or 4MiB");
    }
    return bytes;
  }

  /**
   * A directory no other node uses: {@code quarry-aeron-<pid>-<random>} under {@code /dev/shm}, or under
   * {@code java.io.tmpdir} where there is no {@code /dev/shm}. Pekko deletes it when the node stops
   * ({@code delete-aeron-dir = yes}); a node killed with SIGKILL leaves it behind.
   */
  static Path newDirectory() {
    Path root = Files.isDirectory(SHM) && Files.isWritable(SHM) ? SHM : Path.of(System.getProperty("java.io.tmpdir"));
    String unique = ProcessHandle.current().pid() + "-" + UUID.randomUUID().toString().substring(0, 8);
    return root.resolve("quarry-aeron-" + unique);
  }
}
