package io.quarry.coordinator.store;

import io.zonky.test.db.postgres.embedded.DefaultPostgresBinaryResolver;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.zonky.test.db.postgres.embedded.PgBinaryResolver;
import io.zonky.test.db.postgres.util.LinuxUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.XZInputStream;
import org.tukaani.xz.XZOutputStream;

/**
 * A real PostgreSQL server for tests, from the binaries zonky publishes on Maven Central: no Docker, no network.
 *
 * <p>PostgreSQL refuses to run as root, and CI runs as root. Zonky copes by itself where it can: as root it runs
 * the programs under {@code unshare -U}, in a user namespace where they are not root. Where user namespaces are
 * forbidden (the default seccomp profile of Docker, hardened kernels) that fails, and this class takes over: the
 * binaries are unpacked once into a directory everyone may read, and zonky is handed, through its
 * {@link PgBinaryResolver}, an archive of wrapper scripts in their place that run the real {@code initdb},
 * {@code pg_ctl} and {@code postgres} as {@code nobody} through {@code setpriv} (or {@code runuser}, both from
 * util-linux), in a data directory that {@code nobody} owns. As any other user zonky runs the binaries as they are.
 */
public final class EmbeddedPostgresServer implements AutoCloseable {
  private static final String UNPRIVILEGED_USER = "nobody";
  private static final Duration STARTUP_WAIT = Duration.ofSeconds(60);
  private static final List<String> WRAPPED = List.of("initdb", "pg_ctl", "postgres");

  private final EmbeddedPostgres postgres;
  private final Path log;
  private final AtomicInteger databases = new AtomicInteger();

  private EmbeddedPostgresServer(EmbeddedPostgres postgres, Path log) {
    this.postgres = postgres;
    this.log = log;
  }

  /** Starts a server, or fails saying why and where its log is. */
  public static EmbeddedPostgresServer start() {
    Path workDir = Path.of(System.getProperty("java.io.tmpdir"),
        "quarry-embedded-pg-" + System.getProperty("user.name"));
    Path log = workDir.resolve("postgres-" + UUID.randomUUID() + ".log");
    String how = "as the current user";
    Path dataDir = null;
    try {
      createReadableDirectory(workDir);
      EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
          .setPGStartupWait(STARTUP_WAIT)
          .setLocaleConfig("locale", "C")
          .setOutputRedirector(ProcessBuilder.Redirect.appendTo(log.toFile()))
          .setErrorRedirector(ProcessBuilder.Redirect.appendTo(log.toFile()));
      boolean root = runningAsRoot();
      if (root && LinuxUtils.isUnshareAvailable()) {
        how = "as root, in a user namespace of its own (zonky's unshare -U)";
      } else if (root) {
        String dropPrivileges = dropPrivilegesCommand();
        how = "as root without user namespaces, with its programs run as " + UNPRIVILEGED_USER + " through "
            + dropPrivileges;
        Path binaries = unpackBinaries(workDir);
        preflight(dropPrivileges, binaries);
        dataDir = workDir.resolve("data-" + UUID.randomUUID());
        Files.createDirectory(dataDir);
        Files.setOwner(dataDir, lookupUser(UNPRIVILEGED_USER));
        byte[] wrappers = wrapperArchive(dropPrivileges, binaries);
        PgBinaryResolver resolver = (system, machine) -> new ByteArrayInputStream(wrappers);
        builder.setPgBinaryResolver(resolver)
            .setOverrideWorkingDirectory(workDir.resolve("wrappers").toFile())
            .setDataDirectory(dataDir.toFile());
      }
      return new EmbeddedPostgresServer(builder.start(), log);
    } catch (Exception | ExceptionInInitializerError e) {
      deleteQuietly(dataDir);
      throw new IllegalStateException("could not start the embedded PostgreSQL server (" + how + "): " + e
          + "\n--- end of its log " + log + " ---\n" + tail(log), e);
    }
  }

  /** A new, empty database, as the URL a coordinator would be given. */
  public String createDatabase() throws SQLException {
    String name = "quarry_" + databases.incrementAndGet();
    try (Connection connection = postgres.getPostgresDatabase().getConnection();
        Statement statement = connection.createStatement()) {
      statement.execute("CREATE DATABASE " + name);
    }
    return postgres.getJdbcUrl("postgres", name);
  }

  /** Stops the server and deletes its data directory and log (a failed start keeps the log it names). */
  @Override
  public void close() throws IOException {
    postgres.close();
    Files.deleteIfExists(log);
  }

  private static boolean runningAsRoot() throws IOException {
    if (!System.getProperty("os.name").toLowerCase(Locale.ROOT).contains("linux")) return false;
    Path probe = Files.createTempFile("quarry-uid", ".probe");
    try {
      return ((Integer) Files.getAttribute(probe, "unix:uid")) == 0;
    } finally {
      Files.delete(probe);
    }
  }

  /** The command prefix that runs a program as the unprivileged user; util-linux has both. */
  private static String dropPrivilegesCommand() {
    for (String dir : List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin")) {
      if (Files.isExecutable(Path.of(dir, "setpriv"))) {
        return dir + "/setpriv --reuid=" + UNPRIVILEGED_USER + " --regid=$(id -g " + UNPRIVILEGED_USER
            + ") --clear-groups --";
      }
    }
    for (String dir : List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin")) {
      if (Files.isExecutable(Path.of(dir, "runuser"))) return dir + "/runuser -u " + UNPRIVILEGED_USER + " --";
    }
    throw new IllegalStateException("PostgreSQL refuses to run as root, and neither setpriv nor runuser (util-linux)"
        + " is installed to run it as " + UNPRIVILEGED_USER + "; install util-linux or run the tests as another user");
  }

  /**
   * Unpacks zonky's archive for this machine once per archive version, into a directory the unprivileged user can
   * read: unpacked elsewhere first and moved into place whole, so that concurrent test JVMs never see half of it.
   */
  private static Path unpackBinaries(Path workDir) throws IOException, NoSuchAlgorithmException {
    String arch = System.getProperty("os.arch");
    byte[] archive;
    try (InputStream in = DefaultPostgresBinaryResolver.INSTANCE.getPgBinary("Linux",
        "amd64".equals(arch) ? "x86_64" : arch)) {
      archive = in.readAllBytes();
    }
    String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(archive)).substring(0, 16);
    Path target = workDir.resolve("pg-" + digest);
    if (Files.exists(target.resolve(".complete"))) return target;
    Path staging = workDir.resolve("pg-" + digest + ".staging-" + UUID.randomUUID());
    createReadableDirectory(staging);
    try (TarArchiveInputStream tar = new TarArchiveInputStream(new XZInputStream(new ByteArrayInputStream(archive)))) {
      for (TarArchiveEntry entry = tar.getNextEntry(); entry != null; entry = tar.getNextEntry()) {
        Path path = staging.resolve(entry.getName()).normalize();
        if (!path.startsWith(staging)) throw new IOException("archive entry outside its directory: " + entry.getName());
        if (entry.isDirectory()) {
          createReadableDirectory(path);
        } else if (entry.isSymbolicLink()) {
          createReadableDirectory(path.getParent());
          Files.createSymbolicLink(path, Path.of(entry.getLinkName()));
        } else if (entry.isLink()) {
          createReadableDirectory(path.getParent());
          Files.createLink(path, staging.resolve(entry.getLinkName()));
        } else {
          createReadableDirectory(path.getParent());
          Files.copy(tar, path);
          boolean executable = (entry.getMode() & 0111) != 0;
          Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(executable ? "rwxr-xr-x" : "rw-r--r--"));
        }
      }
    }
    Files.createFile(staging.resolve(".complete"));
    try {
      Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
    } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException e) {
      deleteTree(staging); // another JVM won the race; its copy is the same
    }
    return target;
  }

  /** Proves, before zonky tries, that the unprivileged user can run the binaries where they were unpacked. */
  private static void preflight(String dropPrivileges, Path binaries) throws IOException, InterruptedException {
    Process check = new ProcessBuilder("/bin/sh", "-c",
        "cd / && " + dropPrivileges + " '" + binaries.resolve("bin/postgres") + "' --version")
        .redirectErrorStream(true).start();
    String output = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    if (!check.waitFor(30, TimeUnit.SECONDS) || check.exitValue() != 0) {
      throw new IllegalStateException(UNPRIVILEGED_USER + " cannot run " + binaries.resolve("bin/postgres")
          + " (every directory above it must be readable by all): " + output);
    }
  }

  /** A tar.xz, the format zonky unpacks, of scripts that run the real programs as the unprivileged user. */
  private static byte[] wrapperArchive(String dropPrivileges, Path binaries) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new XZOutputStream(bytes, new LZMA2Options(0)))) {
      for (String program : WRAPPED) {
        byte[] script = ("#!/bin/sh\n"
            + "# PostgreSQL refuses to run as root: run the real " + program + " as " + UNPRIVILEGED_USER + ".\n"
            + "cd / || exit 1\n"
            + "[ \"$(id -u)\" = 0 ] || exec '" + binaries.resolve("bin").resolve(program) + "' \"$@\"\n"
            + "exec " + dropPrivileges + " '" + binaries.resolve("bin").resolve(program) + "' \"$@\"\n")
            .getBytes(StandardCharsets.UTF_8);
        TarArchiveEntry entry = new TarArchiveEntry("bin/" + program);
        entry.setSize(script.length);
        entry.setMode(0100755);
        tar.putArchiveEntry(entry);
        tar.write(script);
        tar.closeArchiveEntry();
      }
    }
    return bytes.toByteArray();
  }

  private static UserPrincipal lookupUser(String name) throws IOException {
    return Path.of("/").getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(name);
  }

  private static void createReadableDirectory(Path dir) throws IOException {
    Files.createDirectories(dir);
    Set<PosixFilePermission> readable = PosixFilePermissions.fromString("rwxr-xr-x");
    if (!Files.getPosixFilePermissions(dir).equals(readable)) Files.setPosixFilePermissions(dir, readable);
  }

  private static void deleteTree(Path root) throws IOException {
    try (var paths = Files.walk(root)) {
      for (Path path : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(path);
    }
  }

  private static void deleteQuietly(Path dir) {
    if (dir == null || !Files.exists(dir)) return;
    try {
      deleteTree(dir);
    } catch (IOException e) {
      // best effort: the start failure is what the test reports
    }
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }
}
