package io.quarry.coordinator.store;

import com.zaxxer.hikari.HikariConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.regex.Pattern;

/** Opens a {@link RunStore} from the URL a person gives the coordinator ({@code --store}). */
public final class RunStores {
  /** The forms {@link #open} accepts, as error messages list them. */
  public static final String ALLOWED_FORMS = "sqlite:<path> (a file, created with its directories if missing),"
      + " jdbc:sqlite:<path>, or jdbc:postgresql://<host>:<port>/<database>[?user=...&password=...]"
      + " (user and password may instead come from QUARRY_DB_USER and QUARRY_DB_PASSWORD)";

  static final String USER_ENV = "QUARRY_DB_USER";
  static final String PASSWORD_ENV = "QUARRY_DB_PASSWORD";

  /** Small: the coordinator writes on lifecycle transitions, not on the per-step path. */
  private static final int POOL_SIZE = 4;
  private static final long CONNECTION_TIMEOUT_MS = 10_000;
  /** How long an SQLite writer waits for another writer before giving up. */
  private static final int SQLITE_BUSY_TIMEOUT_MS = 10_000;
  private static final byte[] SQLITE_HEADER = "SQLite format 3\0".getBytes(StandardCharsets.US_ASCII);
  private static final Pattern PASSWORD_PARAMETER = Pattern.compile("(?i)(password=)[^&;]*");

  private RunStores() {}

  /**
   * Opens the store at {@code url} and migrates its schema to this version.
   *
   * @throws IllegalArgumentException for a URL of none of the {@link #ALLOWED_FORMS}
   * @throws RunStoreException when the store cannot be opened: unreachable, not a database, not a run store
   */
  public static RunStore open(String url) {
    return open(url, System.getenv());
  }

  static RunStore open(String url, Map<String, String> env) {
    if (url == null || url.isBlank()) {
      throw new IllegalArgumentException("the run store URL is empty; use " + ALLOWED_FORMS);
    }
    if (url.startsWith("sqlite:")) return openSqlite(url, url.substring("sqlite:".length()));
    if (url.startsWith("jdbc:sqlite:")) return openSqlite(url, url.substring("jdbc:sqlite:".length()));
    if (url.startsWith("jdbc:postgresql:")) return openPostgres(url, env);
    throw new IllegalArgumentException("unknown run store URL '" + redact(url) + "'; use " + ALLOWED_FORMS);
  }

  private static RunStore openSqlite(String url, String location) {
    String file = location.startsWith("file:") ? location.substring("file:".length()) : location;
    int query = file.indexOf('?');
    String parameters = query >= 0 ? file.substring(query) : "";
    if (query >= 0) file = file.substring(0, query);
    if (file.isBlank() || file.startsWith(":memory:") || location.contains("mode=memory")) {
      throw new IllegalArgumentException("the run store URL '" + url + "' names no file (an in-memory database"
          + " forgets every run when the coordinator stops); use " + ALLOWED_FORMS);
    }
    Path path;
    try {
      path = Path.of(file).toAbsolutePath().normalize();
    } catch (InvalidPathException e) {
      throw new IllegalArgumentException("the run store URL '" + url + "' names an invalid path: " + e.getMessage(), e);
    }
    checkIsSqliteOrAbsent(path);
    Path parent = path.getParent();
    try {
      if (parent != null) Files.createDirectories(parent);
    } catch (IOException e) {
      throw new RunStoreException("could not create the directory " + parent + " of the run store " + path + ": " + e,
          e);
    }
    HikariConfig config = poolConfig("jdbc:sqlite:" + path + parameters);
    config.addDataSourceProperty("foreign_keys", "true");
    config.addDataSourceProperty("busy_timeout", Integer.toString(SQLITE_BUSY_TIMEOUT_MS));
    // Writers take the lock when they begin, so a transaction never fails half-way on upgrading a read lock.
    config.addDataSourceProperty("transaction_mode", "IMMEDIATE");
    // With WAL, NORMAL makes every committed transition survive a crash of the process (a coordinator killed with
    // SIGKILL) without an fsync per commit; a power loss may lose the last few, which a recovered run redoes from
    // an earlier checkpoint. FULL fsynced every checkpoint report and slowed fast runs several-fold.
    config.addDataSourceProperty("synchronous", "NORMAL");
    return new JdbcRunStore(config, JdbcRunStore.Vendor.SQLITE, "sqlite:" + path);
  }

  /**
   * Refuses, before SQLite opens it, a file that is not an SQLite database: SQLite would report it only once it has
   * begun to use the file, and the file is someone's data. An empty file is a new database, as SQLite sees it.
   */
  private static void checkIsSqliteOrAbsent(Path path) {
    if (Files.isDirectory(path)) {
      throw new RunStoreException("the run store " + path + " is a directory; the SQLite store is a file, e.g. "
          + path.resolve("quarry.db"));
    }
    if (!Files.exists(path)) return;
    byte[] header = new byte[SQLITE_HEADER.length];
    int read;
    try (InputStream in = Files.newInputStream(path)) {
      read = in.readNBytes(header, 0, header.length);
    } catch (IOException e) {
      throw new RunStoreException("could not read the run store " + path + ": " + e, e);
    }
    if (read == 0) return;
    if (read < header.length || !Arrays.equals(header, SQLITE_HEADER)) {
      throw new RunStoreException("the run store " + path + " is not an SQLite database (it does not begin with the"
          + " SQLite header 'SQLite format 3'); it was left untouched. Move it away, or point the store at another"
          + " file");
    }
  }

  private static RunStore openPostgres(String url, Map<String, String> env) {
    HikariConfig config = poolConfig(url);
    String user = env.get(USER_ENV);
    if (!hasParameter(url, "user") && user != null && !user.isBlank()) config.setUsername(user);
    String password = env.get(PASSWORD_ENV);
    if (!hasParameter(url, "password") && password != null) config.setPassword(password);
    config.addDataSourceProperty("ApplicationName", "quarry-coordinator");
    return new JdbcRunStore(config, JdbcRunStore.Vendor.POSTGRESQL, redact(url));
  }

  private static HikariConfig poolConfig(String jdbcUrl) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(jdbcUrl);
    config.setPoolName("quarry-run-store");
    config.setMaximumPoolSize(POOL_SIZE);
    config.setMinimumIdle(1);
    config.setConnectionTimeout(CONNECTION_TIMEOUT_MS);
    return config;
  }

  private static boolean hasParameter(String url, String name) {
    int query = url.indexOf('?');
    if (query < 0) return false;
    for (String parameter : url.substring(query + 1).split("&")) {
      if (parameter.regionMatches(true, 0, name + "=", 0, name.length() + 1)) return true;
    }
    return false;
  }

  /** The URL with any password hidden, for messages and logs. */
  public static String redact(String url) {
    return PASSWORD_PARAMETER.matcher(url).replaceAll("$1***");
  }
}
