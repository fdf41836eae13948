package io.quarry.coordinator.http;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bearer tokens the HTTP API accepts, each with its {@link Role}, read from a file of {@code ROLE TOKEN} lines
 * ({@code #} starts a comment) and read again when the file changes. A token is compared in constant time: it is
 * hashed, and every known token's hash is compared with it in full, so neither a token's content nor its position
 * in the file shows in the time an answer takes. Tokens are never logged; a refusal says the same for an unknown
 * token as for a wrong one.
 */
public final class ApiTokens {
  private static final Logger LOG = LoggerFactory.getLogger(ApiTokens.class);

  /** What a token may do: {@code read} lists and reads runs, workers and metrics; {@code operate} also submits and stops. */
  public enum Role {
    READ,
    OPERATE;

    /** The role's name in the tokens file. */
    public String fileName() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** True when this role may do what {@code required} may. */
    public boolean allows(Role required) {
      return ordinal() >= required.ordinal();
    }
  }

  /** The shortest token accepted: guessing a 24-character random token is out of reach. */
  static final int MIN_TOKEN_LENGTH = 24;

  /** How often, at most, the file's size and time are looked at for a change. */
  private static final long RECHECK_NS = 1_000_000_000L;

  /**
   * Who called: the token's role, and an id for the token that is not the token (the first hex digits of its hash),
   * to count a caller's submissions by and to name it in logs.
   */
  public record Caller(String id, Role role) {}

  private record Entry(byte[] hash, Role role) {}

  private record Loaded(List<Entry> entries, FileTime modified, long size) {}

  private final Path file;
  /** False only with --insecure-no-auth: every request may do everything. */
  private final boolean required;
  private final LongSupplier nanoClock;
  private volatile Loaded loaded;
  private volatile long checkedAtNs;

  private ApiTokens(Path file, boolean required, LongSupplier nanoClock, Loaded loaded) {
    this.file = file;
    this.required = required;
    this.nanoClock = nanoClock;
    this.loaded = loaded;
    this.checkedAtNs = nanoClock.getAsLong();
  }

  /**
   * The tokens in {@code file}; fails, naming the file and the line, when it cannot be read or a line is not
   * {@code ROLE TOKEN} with a known role and a token of at least {@value #MIN_TOKEN_LENGTH} characters.
   */
  public static ApiTokens fromFile(Path file) {
    return fromFile(file, System::nanoTime);
  }

  static ApiTokens fromFile(Path file, LongSupplier nanoClock) {
    return new ApiTokens(file, true, nanoClock, load(file));
  }

  /**
   * No authentication ({@code --insecure-no-auth}): every request may read, submit and stop, as the operate role. For
   * a closed network only; the coordinator warns about it at every start.
   */
  public static ApiTokens insecureNoAuth() {
    return new ApiTokens(null, false, System::nanoTime, new Loaded(List.of(), null, 0));
  }

  /**
   * One token held in memory only, never written ({@code quarry dashboard} and {@code quarry local --dashboard} make
   * one per start and print the login link that carries it).
   */
  public static ApiTokens single(Role role, String token) {
    if (token == null || token.length() < MIN_TOKEN_LENGTH) {
      throw new IllegalArgumentException("a token of at least " + MIN_TOKEN_LENGTH + " characters is needed");
    }
    return new ApiTokens(null, true, System::nanoTime, new Loaded(List.of(new Entry(sha256(token), role)), null, 0));
  }

  /** A new random token: 32 bytes, base64url. */
  public static String newToken() {
    byte[] random = new byte[32];
    new SecureRandom().nextBytes(random);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(random);
  }

  /** False when the API takes requests without a token ({@link #insecureNoAuth}). */
  public boolean required() {
    return required;
  }

  /**
   * The token file of a coordinator started without one: {@code <runs-dir>/api-token}, created with one new
   * {@code operate} token (readable by its owner only) when it does not exist. Returns the file.
   */
  public static Path ensureDefaultFile(Path runsDir) {
    Path file = runsDir.resolve("api-token");
    try {
      Files.createDirectories(runsDir);
      byte[] random = new byte[32];
      new SecureRandom().nextBytes(random);
      String token = Base64.getUrlEncoder().withoutPadding().encodeToString(random);
      String content = "# Quarry API tokens: one `ROLE TOKEN` a line, ROLE read or operate. Send as Authorization: Bearer TOKEN.\n"
          + Role.OPERATE.fileName() + " " + token + "\n";
      try {
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      } catch (UnsupportedOperationException e) {
        Files.createFile(file);
      }
      Files.writeString(file, content, StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING);
    } catch (FileAlreadyExistsException e) {
      // Made at an earlier start: keep its tokens.
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the API token file " + file, e);
    }
    return file;
  }

  /**
   * Who holds {@code token}, if the file holds it (as of its last change); without authentication, everyone is the
   * same operate caller.
   */
  public Optional<Caller> caller(String token) {
    if (!required) return Optional.of(new Caller("anonymous", Role.OPERATE));
    if (token == null) return Optional.empty();
    reloadIfChanged();
    byte[] hash = sha256(token);
    Entry found = null;
    for (Entry entry : loaded.entries()) {
      // No early exit: every entry is compared in full, whatever matched.
      if (MessageDigest.isEqual(hash, entry.hash()) && found == null) found = entry;
    }
    return found == null ? Optional.empty() : Optional.of(new Caller(HexFormat.of().formatHex(hash, 0, 4), found.role()));
  }

  /** The file the tokens come from; null for tokens held in memory ({@link #single}). */
  public Path file() {
    return file;
  }

  private void reloadIfChanged() {
    if (file == null) return;
    long now = nanoClock.getAsLong();
    if (now - checkedAtNs < RECHECK_NS) return;
    synchronized (this) {
      if (now - checkedAtNs < RECHECK_NS) return;
      checkedAtNs = now;
      try {
        FileTime modified = Files.getLastModifiedTime(file);
        long size = Files.size(file);
        if (modified.equals(loaded.modified()) && size == loaded.size()) return;
        loaded = load(file);
        LOG.info("API tokens read again from {}: {} token(s)", file, loaded.entries().size());
      } catch (IOException | IllegalArgumentException e) {
        // Keep the tokens that worked: a half-written or broken file must not lock everyone out, nor let anyone in.
        LOG.error("API tokens in {} not read again, the previous ones stay: {}", file, e.getMessage());
      }
    }
  }

  private static Loaded load(Path file) {
    try {
      FileTime modified = Files.getLastModifiedTime(file);
      long size = Files.size(file);
      List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
      List<Entry> entries = new ArrayList<>();
      for (int i = 0; i < lines.size(); i++) {
        String line = lines.get(i).strip();
        if (line.isEmpty() || line.startsWith("#")) continue;
        String[] words = line.split("\\s+");
        String where = file + " line " + (i + 1);
        if (words.length != 2) {
          throw new IllegalArgumentException(where + ": expected `ROLE TOKEN` (ROLE read or operate), got "
              + words.length + " word(s)");
        }
        Role role = switch (words[0].toLowerCase(Locale.ROOT)) {
          case "read" -> Role.READ;
          case "operate" -> Role.OPERATE;
          default -> throw new IllegalArgumentException(where + ": unknown role '" + words[0] + "'; allowed: read, operate");
        };
        if (words[1].length() < MIN_TOKEN_LENGTH) {
          throw new IllegalArgumentException(where + ": the token is " + words[1].length() + " characters; allowed: at least "
              + MIN_TOKEN_LENGTH + " (e.g. 32 random bytes, base64)");
        }
        entries.add(new Entry(sha256(words[1]), role));
      }
      if (entries.isEmpty()) throw new IllegalArgumentException(file + " holds no token (lines `ROLE TOKEN`)");
      return new Loaded(List.copyOf(entries), modified, size);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read the API tokens file " + file + ": " + e.getMessage(), e);
    }
  }

  private static byte[] sha256(String token) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JVM has no SHA-256", e);
    }
  }
}
