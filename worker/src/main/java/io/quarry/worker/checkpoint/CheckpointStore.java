package io.quarry.worker.checkpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The checkpoints of one shard: {@code checkpoints/<shard>/step-N/} directories plus the pointer files
 * {@code last} and {@code best}, each holding the name of one step directory.
 *
 * <p>A save is all-or-nothing: files go into a temporary sibling directory, {@code manifest.json} is written
 * last and everything is fsynced before one atomic rename makes {@code step-N} appear. A step directory
 * without a manifest, or a leftover temporary directory, is what an interrupted save or prune leaves
 * behind; it is never returned and is removed by the next save. Pointers are replaced atomically.
 *
 * <p>Retention: the newest {@code keep} step directories (by step), plus whatever {@code best} and
 * {@code last} point at. A save at step N also removes checkpoints after N (other than the best): they belong
 * to an attempt that was abandoned before the one resuming below them.
 *
 * <p>One writer per shard directory is assumed (the run assigns a shard to one attempt at a time).
 */
public final class CheckpointStore {
  /** The file whose presence makes a step directory complete. */
  public static final String MANIFEST = "manifest.json";
  /** The pointer file naming the most recently saved checkpoint. */
  public static final String LAST = "last";
  /** The pointer file naming the checkpoint with the lowest val loss so far. */
  public static final String BEST = "best";
  /** Step directories kept when no other number is given. */
  public static final int DEFAULT_KEEP = 3;

  private static final String STEP_PREFIX = "step-";
  private static final Pattern STEP_DIR = Pattern.compile("step-(\\d{1,18})");
  private static final String TMP_PREFIX = ".tmp-";
  private static final String TRASH_PREFIX = ".trash-";

  /** Writes a trainer's own files (parameters, optimizer state) into a checkpoint directory being built. */
  @FunctionalInterface
  public interface FileWriter {
    void write(Path dir) throws IOException;

    /** Writes nothing: the manifest is the whole checkpoint. */
    FileWriter NONE = dir -> {};
  }

  private record StepDir(long step, Path path) {}

  private final Path dir;
  private final int keep;
  /**
   * Asked before a save starts and again right before it is committed (renamed into place); a save it refuses leaves
   * nothing behind. It may block (an attempt waiting for its coordinator lease).
   */
  private final BooleanSupplier mayCommit;

  /** A store for {@code dir} that keeps the {@value #DEFAULT_KEEP} newest checkpoints (plus the best). */
  public CheckpointStore(Path dir) {
    this(dir, DEFAULT_KEEP);
  }

  /** A store for {@code dir} that keeps the {@code keep} newest checkpoints (plus the best). */
  public CheckpointStore(Path dir, int keep) {
    this(dir, keep, () -> true);
  }

  /**
   * A store for {@code dir} that keeps the {@code keep} newest checkpoints (plus the best) and commits a save only
   * while {@code mayCommit} says so: a worker that has lost its coordinator (its attempt may already run elsewhere)
   * writes no checkpoint more, and prunes none.
   */
  public CheckpointStore(Path dir, int keep, BooleanSupplier mayCommit) {
    this.dir = Objects.requireNonNull(dir, "dir");
    if (keep < 1) throw new IllegalArgumentException("keep must be >= 1, was " + keep);
    this.keep = keep;
    this.mayCommit = Objects.requireNonNull(mayCommit, "mayCommit");
  }

  /** The shard's checkpoint directory. */
  public Path dir() {
    return dir;
  }

  /** The name of the step directory for {@code step}. */
  public static String stepDirName(long step) {
    return STEP_PREFIX + step;
  }

  /**
   * Writes {@code step-<manifest.step>} atomically (replacing one of the same step), points {@code last} at it,
   * moves {@code best} when its val loss is the lowest so far, and prunes old checkpoints.
   *
   * @return the complete step directory
   * @throws IOException when it cannot be written (a full disk): the message names the checkpoint and the operating
   *     system's error ("cannot write checkpoint .../step-40: No space left on device"), and no temporary is left
   */
  public synchronized Path save(CheckpointManifest manifest, FileWriter extraFiles) throws IOException {
    Objects.requireNonNull(manifest, "manifest");
    Objects.requireNonNull(extraFiles, "extraFiles");
    // Asked first too, so that an attempt that may no longer write does not even start a temporary directory.
    if (!mayCommit.getAsBoolean()) throw notAllowed(dir.resolve(stepDirName(manifest.step())));
    String name = stepDirName(manifest.step());
    Path target = dir.resolve(name);
    try {
      Files.createDirectories(dir);
      commit(manifest, extraFiles, target);
      writePointer(LAST, name);
      updateBest();
      prune(manifest.step(), name);
    } catch (IOException e) {
      throw new IOException("cannot write checkpoint " + target + ": " + osError(e), e);
    }
    return target;
  }

  /** Builds the checkpoint in a temporary sibling and renames it to {@code target}; on failure, removes the sibling. */
  private void commit(CheckpointManifest manifest, FileWriter extraFiles, Path target) throws IOException {
    Path tmp = dir.resolve(TMP_PREFIX + target.getFileName() + "-" + randomSuffix());
    Files.createDirectory(tmp);
    try {
      extraFiles.write(tmp);
      fsyncFiles(tmp);
      // The manifest goes last: its presence is what marks the directory complete.
      writeDurably(tmp.resolve(MANIFEST), ManifestJson.write(manifest));
      fsyncDirectory(tmp);
      if (!mayCommit.getAsBoolean()) throw notAllowed(target);
      if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) delete(target);
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      fsyncDirectory(dir);
    } catch (IOException | RuntimeException e) {
      try {
        deleteTree(tmp);
      } catch (IOException cleanupFailed) {
        // The save's own error is the one to report; the next save removes what is left.
        e.addSuppressed(cleanupFailed);
      }
      throw e;
    }
  }

  /**
   * The operating system's words for {@code e} ("No space left on device"), without the temporary path it may name;
   * else the exception as it prints itself.
   */
  private static String osError(IOException e) {
    if (e instanceof FileSystemException fs && fs.getReason() != null) return fs.getReason();
    if (e instanceof FileSystemException) return e.toString();
    return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
  }

  private static CheckpointException notAllowed(Path target) {
    return new CheckpointException("checkpoint " + target + " not written: this attempt may no longer write (its "
        + "worker lost the coordinator, or was paused)");
  }

  /**
   * Reads the manifest of a step directory.
   *
   * @return empty when the directory has no manifest (it does not exist, or its save was interrupted)
   * @throws CheckpointException when the manifest is corrupt, truncated or does not match its directory
   */
  public static Optional<CheckpointManifest> load(Path stepDir) {
    Path file = stepDir.resolve(MANIFEST);
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw new CheckpointException("cannot read checkpoint manifest " + file + ": " + e, e);
    }
    CheckpointManifest manifest = ManifestJson.read(bytes, file);
    Path fileName = stepDir.getFileName();
    Matcher m = fileName == null ? null : STEP_DIR.matcher(fileName.toString());
    if (m != null && m.matches() && Long.parseLong(m.group(1)) != manifest.step()) {
      throw new CheckpointException("checkpoint manifest " + file + " says step " + manifest.step()
          + " but its directory is " + fileName);
    }
    return Optional.of(manifest);
  }

  /** The most recently saved complete checkpoint (or the newest complete one if the pointer is missing). */
  public Optional<Path> last() {
    Optional<Path> pointed = pointed(LAST);
    if (pointed.isPresent()) return pointed;
    List<StepDir> complete = completeStepDirs();
    return complete.isEmpty() ? Optional.empty() : Optional.of(complete.get(complete.size() - 1).path());
  }

  /** The complete checkpoint with the lowest val loss so far; empty while none has a val loss. */
  public Optional<Path> best() {
    Optional<Path> pointed = pointed(BEST);
    return pointed.isPresent() ? pointed : lowestValLoss().map(StepDir::path);
  }

  /** Every complete step directory, oldest step first. */
  public List<Path> checkpoints() {
    return completeStepDirs().stream().map(StepDir::path).toList();
  }

  private Optional<Path> pointed(String pointer) {
    return readPointer(pointer).map(dir::resolve).filter(p -> Files.isRegularFile(p.resolve(MANIFEST)));
  }

  private void updateBest() throws IOException {
    Optional<StepDir> lowest = lowestValLoss();
    if (lowest.isPresent()) {
      String name = lowest.get().path().getFileName().toString();
      if (!readPointer(BEST).equals(Optional.of(name))) writePointer(BEST, name);
    } else {
      Files.deleteIfExists(dir.resolve(BEST));
    }
  }

  /**
   * The lowest val loss among the checkpoints on disk, earliest step on a tie (the one whose weights were
   * evaluated). This equals the lowest so far because pruning never removes the best.
   */
  private Optional<StepDir> lowestValLoss() {
    StepDir lowest = null;
    double lowestLoss = Double.NaN;
    for (StepDir candidate : completeStepDirs()) {
      double valLoss;
      try {
        valLoss = load(candidate.path()).map(CheckpointManifest::valLoss).orElse(Double.NaN);
      } catch (CheckpointException e) {
        continue; // a corrupt checkpoint is never best; load() reports it to whoever resumes from it
      }
      if (Double.isNaN(valLoss)) continue;
      if (lowest == null || valLoss < lowestLoss) {
        lowest = candidate;
        lowestLoss = valLoss;
      }
    }
    return Optional.ofNullable(lowest);
  }

  private void prune(long savedStep, String savedName) throws IOException {
    removeInterrupted();
    Set<String> protectedNames = new HashSet<>();
    protectedNames.add(savedName);
    readPointer(BEST).ifPresent(protectedNames::add);
    readPointer(LAST).ifPresent(protectedNames::add);
    List<StepDir> complete = new ArrayList<>(completeStepDirs());
    complete.sort(Comparator.comparingLong(StepDir::step).reversed());
    int kept = 0;
    for (StepDir stepDir : complete) {
      String name = stepDir.path().getFileName().toString();
      boolean superseded = stepDir.step() > savedStep;
      boolean isProtected = protectedNames.contains(name);
      if (isProtected || (!superseded && kept < keep)) {
        if (!superseded) kept++;
        continue;
      }
      delete(stepDir.path());
    }
  }

  /** Removes what interrupted saves and prunes left: temporary and trash entries, step dirs without a manifest. */
  private void removeInterrupted() throws IOException {
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path entry : entries) {
        String name = entry.getFileName().toString();
        if (name.startsWith(TMP_PREFIX) || name.startsWith(TRASH_PREFIX)) {
          deleteTree(entry);
        } else if (STEP_DIR.matcher(name).matches() && !Files.exists(entry.resolve(MANIFEST))) {
          deleteTree(entry);
        }
      }
    }
  }

  private List<StepDir> completeStepDirs() {
    List<StepDir> result = new ArrayList<>();
    if (!Files.isDirectory(dir)) return result;
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, STEP_PREFIX + "*")) {
      for (Path entry : entries) {
        Matcher m = STEP_DIR.matcher(entry.getFileName().toString());
        if (m.matches() && Files.isRegularFile(entry.resolve(MANIFEST))) {
          result.add(new StepDir(Long.parseLong(m.group(1)), entry));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list checkpoint directory " + dir, e);
    }
    result.sort(Comparator.comparingLong(StepDir::step));
    return result;
  }

  private Optional<String> readPointer(String pointer) {
    try {
      String name = Files.readString(dir.resolve(pointer), StandardCharsets.UTF_8).trim();
      // Only a bare step directory name is followed: a pointer never leads outside the shard's directory.
      return STEP_DIR.matcher(name).matches() ? Optional.of(name) : Optional.empty();
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read checkpoint pointer " + dir.resolve(pointer), e);
    }
  }

  private void writePointer(String pointer, String stepDirName) throws IOException {
    Path tmp = dir.resolve(TMP_PREFIX + pointer + "-" + randomSuffix());
    try {
      writeDurably(tmp, (stepDirName + "\n").getBytes(StandardCharsets.UTF_8));
      Files.move(tmp, dir.resolve(pointer), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
    fsyncDirectory(dir);
  }

  /** Makes a directory disappear at once (rename into the trash), then deletes it. */
  private void delete(Path stepDir) throws IOException {
    Path trash = dir.resolve(TRASH_PREFIX + stepDir.getFileName() + "-" + randomSuffix());
    try {
      Files.move(stepDir, trash, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      // Cannot rename: delete in place, manifest first, so a half-deleted directory reads as incomplete.
      Files.deleteIfExists(stepDir.resolve(MANIFEST));
      trash = stepDir;
    }
    deleteTree(trash);
  }

  private static void writeDurably(Path file, byte[] bytes) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer buffer = ByteBuffer.wrap(bytes);
      while (buffer.hasRemaining()) channel.write(buffer);
      channel.force(true);
    }
  }

  private static void fsyncFiles(Path root) throws IOException {
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        if (attrs.isRegularFile()) {
          // READ is enough to fsync on Linux and macOS, and works for files the trainer made read-only.
          try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            channel.force(true);
          }
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
        if (e != null) throw e;
        if (!d.equals(root)) fsyncDirectory(d);
        return FileVisitResult.CONTINUE;
      }
    });
  }

  /** Makes a directory's entries durable where the platform allows opening a directory (Linux, macOS). */
  private static void fsyncDirectory(Path d) {
    try (FileChannel channel = FileChannel.open(d, StandardOpenOption.READ)) {
      channel.force(true);
    } catch (IOException e) {
      // Not supported on this platform (Windows): the rename is still atomic, only less durable on power loss.
    }
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) return;
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.deleteIfExists(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
        if (e != null) throw e;
        Files.deleteIfExists(d);
        return FileVisitResult.CONTINUE;
      }
    });
  }

  private static String randomSuffix() {
    return Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
  }
}
