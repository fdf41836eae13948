package io.quarry.coordinator.store;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.quarry.protocol.RunState;
import io.quarry.protocol.ShardState;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;

/**
 * The run store over JDBC: a small HikariCP pool, the schema kept by Flyway migrations ({@code db/migration}), and
 * SQL that SQLite and PostgreSQL both understand. Built by {@link RunStores#open}.
 */
final class JdbcRunStore implements RunStore {
  /** Which database is behind the pool: SQLite needs a pragma after migrating. */
  enum Vendor {
    SQLITE,
    POSTGRESQL
  }

  private static final String RUN_COLUMNS = "run_id, name, config_hocon, status, submitted_unix_ms, started_unix_ms,"
      + " finished_unix_ms, final_metrics_json, failure_reason";
  private static final String SHARD_COLUMNS = "run_id, shard, first_sample, sample_count, state, attempt, failures,"
      + " worker_id, last_checkpoint, checkpoint_step";
  private static final String INSERT_RUN = "INSERT INTO runs (" + RUN_COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
      + " ON CONFLICT (run_id) DO NOTHING";
  private static final String UPDATE_RUN = "UPDATE runs SET name = ?, config_hocon = ?, status = ?,"
      + " submitted_unix_ms = ?, started_unix_ms = ?, finished_unix_ms = ?, final_metrics_json = ?,"
      + " failure_reason = ? WHERE run_id = ?";
  private static final String UPSERT_SHARD = "INSERT INTO shards (" + SHARD_COLUMNS + ")"
      + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, shard) DO UPDATE SET"
      + " first_sample = excluded.first_sample, sample_count = excluded.sample_count, state = excluded.state,"
      + " attempt = excluded.attempt, failures = excluded.failures, worker_id = excluded.worker_id,"
      + " last_checkpoint = excluded.last_checkpoint, checkpoint_step = excluded.checkpoint_step";
  private static final String SELECT_RUNS = "SELECT " + RUN_COLUMNS + " FROM runs";
  private static final String NEXT_INCARNATION = "UPDATE counters SET counter_value = counter_value + 1"
      + " WHERE counter_name = 'incarnation' RETURNING counter_value";

  /**
   * By submission time, then id, sorted here rather than in SQL: PostgreSQL orders text by the database's collation,
   * SQLite by bytes, and the store answers the same on both.
   */
  private static final Comparator<RunRecord> SUBMISSION_ORDER =
      Comparator.comparingLong(RunRecord::submittedUnixMs).thenComparing(RunRecord::runId);

  private final HikariDataSource dataSource;
  private final String description;

  /**
   * Opens the pool and migrates the schema to the newest version.
   *
   * @param description the store as people should read it in errors (the URL, any password hidden)
   */
  JdbcRunStore(HikariConfig config, Vendor vendor, String description) {
    this.description = description;
    try {
      this.dataSource = new HikariDataSource(config);
    } catch (RuntimeException e) {
      throw new RunStoreException("could not open the run store " + description + ": " + rootMessage(e), e);
    }
    try {
      Flyway.configure(JdbcRunStore.class.getClassLoader())
          .dataSource(dataSource)
          .locations("classpath:db/migration")
          .failOnMissingLocations(true)
          .load()
          .migrate();
    } catch (FlywayException e) {
      dataSource.close();
      throw new RunStoreException("could not bring the run store " + description + " to this version's schema: "
          + rootMessage(e), e);
    }
    try {
      // After migrating, so that a database that turns out not to be a run store is not switched to WAL.
      if (vendor == Vendor.SQLITE) enableWriteAheadLog();
    } catch (RuntimeException e) {
      dataSource.close();
      throw e;
    }
  }

  private void enableWriteAheadLog() {
    try (Connection connection = dataSource.getConnection();
        Statement statement = connection.createStatement();
        ResultSet result = statement.executeQuery("PRAGMA journal_mode = WAL")) {
      String mode = result.next() ? result.getString(1) : null;
      if (!"wal".equalsIgnoreCase(mode)) {
        throw new RunStoreException("SQLite kept journal mode '" + mode + "' instead of 'wal'");
      }
    } catch (SQLException e) {
      throw failure("switch to write-ahead logging", e);
    }
  }

  @Override
  public void createRun(RunRecord run) {
    try (Connection connection = dataSource.getConnection();
        PreparedStatement insert = connection.prepareStatement(INSERT_RUN)) {
      insert.setString(1, run.runId());
      setRunFields(insert, run, 2);
      if (insert.executeUpdate() == 0) throw new RunAlreadyExistsException(run.runId(), description);
    } catch (SQLException e) {
      throw failure("create run '" + run.runId() + "'", e);
    }
  }

  @Override
  public void updateRun(RunRecord run) {
    try (Connection connection = dataSource.getConnection();
        PreparedStatement update = connection.prepareStatement(UPDATE_RUN)) {
      setRunFields(update, run, 1);
      update.setString(9, run.runId());
      if (update.executeUpdate() == 0) {
        throw new RunStoreException("could not update run '" + run.runId() + "': it is not in the run store "
            + description + "; create it first");
      }
    } catch (SQLException e) {
      throw failure("update run '" + run.runId() + "'", e);
    }
  }

  /** Sets name, config, status, times, metrics and reason, from parameter {@code first} on. */
  private static void setRunFields(PreparedStatement statement, RunRecord run, int first) throws SQLException {
    statement.setString(first, run.name());
    statement.setString(first + 1, run.configHocon());
    statement.setString(first + 2, run.status().name());
    statement.setLong(first + 3, run.submittedUnixMs());
    setNullableLong(statement, first + 4, run.startedUnixMs());
    setNullableLong(statement, first + 5, run.finishedUnixMs());
    statement.setString(first + 6, run.finalMetricsJson());
    statement.setString(first + 7, run.failureReason());
  }

  private static void setNullableLong(PreparedStatement statement, int index, Long value) throws SQLException {
    if (value == null) {
      statement.setNull(index, Types.BIGINT);
    } else {
      statement.setLong(index, value);
    }
  }

  @Override
  public void upsertShard(ShardRecord shard) {
    try (Connection connection = dataSource.getConnection();
        PreparedStatement upsert = connection.prepareStatement(UPSERT_SHARD)) {
      setShard(upsert, shard);
      upsert.executeUpdate();
    } catch (SQLException e) {
      throw failure("write shard " + shard.shard() + " of run '" + shard.runId() + "'", e);
    }
  }

  @Override
  public void upsertShards(List<ShardRecord> shards) {
    if (shards.isEmpty()) return;
    try (Connection connection = dataSource.getConnection()) {
      connection.setAutoCommit(false);
      try (PreparedStatement upsert = connection.prepareStatement(UPSERT_SHARD)) {
        for (ShardRecord shard : shards) {
          setShard(upsert, shard);
          upsert.addBatch();
        }
        upsert.executeBatch();
        connection.commit();
      } catch (SQLException | RuntimeException e) {
        connection.rollback();
        throw e;
      } finally {
        connection.setAutoCommit(true);
      }
    } catch (SQLException e) {
      List<String> runIds = shards.stream().map(ShardRecord::runId).distinct().toList();
      throw failure("write " + shards.size() + " shards of run(s) " + runIds + " (none was written)", e);
    }
  }

  private static void setShard(PreparedStatement statement, ShardRecord shard) throws SQLException {
    statement.setString(1, shard.runId());
    statement.setInt(2, shard.shard());
    statement.setLong(3, shard.firstSample());
    statement.setLong(4, shard.sampleCount());
    statement.setString(5, shard.state().name());
    statement.setInt(6, shard.attempt());
    statement.setInt(7, shard.failures());
    statement.setString(8, shard.workerId());
    statement.setString(9, shard.lastCheckpoint());
    statement.setLong(10, shard.checkpointStep());
  }

  @Override
  public Optional<RunRecord> run(String runId) {
    List<RunRecord> found = queryRuns(SELECT_RUNS + " WHERE run_id = ?", "read run '" + runId + "'", runId);
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  @Override
  public List<RunRecord> runs() {
    return queryRuns(SELECT_RUNS, "list runs");
  }

  @Override
  public List<RunRecord> unfinishedRuns() {
    return queryRuns(SELECT_RUNS + " WHERE status NOT IN (?, ?, ?)", "list unfinished runs",
        RunState.COMPLETED.name(), RunState.FAILED.name(), RunState.STOPPED.name());
  }

  private List<RunRecord> queryRuns(String sql, String what, String... parameters) {
    List<RunRecord> runs = new ArrayList<>();
    try (Connection connection = dataSource.getConnection();
        PreparedStatement query = connection.prepareStatement(sql)) {
      for (int i = 0; i < parameters.length; i++) query.setString(i + 1, parameters[i]);
      try (ResultSet rows = query.executeQuery()) {
        while (rows.next()) runs.add(readRun(rows));
      }
    } catch (SQLException e) {
      throw failure(what, e);
    }
    runs.sort(SUBMISSION_ORDER);
    return runs;
  }

  private RunRecord readRun(ResultSet row) throws SQLException {
    String runId = row.getString("run_id");
    return new RunRecord(
        runId,
        row.getString("name"),
        row.getString("config_hocon"),
        parse(RunState.class, row.getString("status"), "status of run '" + runId + "'"),
        row.getLong("submitted_unix_ms"),
        nullableLong(row, "started_unix_ms"),
        nullableLong(row, "finished_unix_ms"),
        row.getString("final_metrics_json"),
        row.getString("failure_reason"));
  }

  @Override
  public List<ShardRecord> shards(String runId) {
    List<ShardRecord> shards = new ArrayList<>();
    try (Connection connection = dataSource.getConnection();
        PreparedStatement query = connection.prepareStatement(
            "SELECT " + SHARD_COLUMNS + " FROM shards WHERE run_id = ? ORDER BY shard")) {
      query.setString(1, runId);
      try (ResultSet rows = query.executeQuery()) {
        while (rows.next()) shards.add(readShard(rows));
      }
    } catch (SQLException e) {
      throw failure("read the shards of run '" + runId + "'", e);
    }
    return shards;
  }

  private ShardRecord readShard(ResultSet row) throws SQLException {
    String runId = row.getString("run_id");
    int shard = row.getInt("shard");
    return new ShardRecord(
        runId,
        shard,
        row.getLong("first_sample"),
        row.getLong("sample_count"),
        parse(ShardState.class, row.getString("state"), "state of shard " + shard + " of run '" + runId + "'"),
        row.getInt("attempt"),
        row.getInt("failures"),
        row.getString("worker_id"),
        row.getString("last_checkpoint"),
        row.getLong("checkpoint_step"));
  }

  private static Long nullableLong(ResultSet row, String column) throws SQLException {
    long value = row.getLong(column);
    return row.wasNull() ? null : value;
  }

  private <E extends Enum<E>> E parse(Class<E> type, String name, String what) {
    try {
      return Enum.valueOf(type, name);
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new RunStoreException("the " + what + " in the run store " + description + " is '" + name
          + "', which this version does not know; known: " + Arrays.toString(type.getEnumConstants()), e);
    }
  }

  @Override
  public long nextIncarnation() {
    // One statement: the row lock (PostgreSQL) or the write lock (SQLite) makes concurrent callers take turns.
    try (Connection connection = dataSource.getConnection();
        PreparedStatement increment = connection.prepareStatement(NEXT_INCARNATION);
        ResultSet row = increment.executeQuery()) {
      if (!row.next()) throw new RunStoreException("the run store " + description + " has no incarnation counter");
      return row.getLong(1);
    } catch (SQLException e) {
      throw failure("take the next incarnation", e);
    }
  }

  /** The pool, for tests that look at the schema itself. */
  DataSource dataSource() {
    return dataSource;
  }

  @Override
  public void close() {
    dataSource.close();
  }

  @Override
  public String toString() {
    return "JdbcRunStore[" + description + "]";
  }

  private RunStoreException failure(String what, SQLException e) {
    return new RunStoreException("could not " + what + " in the run store " + description + ": " + sqlMessage(e), e);
  }

  /** The message of an SQL error, with the chained errors a batch reports (PostgreSQL puts the cause there). */
  private static String sqlMessage(SQLException e) {
    StringBuilder message = new StringBuilder(String.valueOf(e.getMessage()));
    SQLException next = e instanceof BatchUpdateException ? e.getNextException() : null;
    for (int i = 0; next != null && i < 3; i++, next = next.getNextException()) {
      message.append("; ").append(next.getMessage());
    }
    return message.toString();
  }

  private static String rootMessage(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) root = root.getCause();
    String message = String.valueOf(e.getMessage());
    if (root == e || root.getMessage() == null || message.contains(root.getMessage())) return message;
    return message + " (" + root.getMessage() + ")";
  }
}
