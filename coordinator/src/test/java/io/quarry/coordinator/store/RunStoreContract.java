package io.quarry.coordinator.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.RunState;
import io.quarry.protocol.ShardState;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What every {@link RunStore} does, whatever database is behind it. Each subclass gives each test a fresh, empty
 * store URL.
 */
abstract class RunStoreContract {
  private final List<RunStore> opened = new ArrayList<>();
  private String url;

  /** The URL of a new, empty store; called once per test. */
  protected abstract String freshStoreUrl() throws Exception;

  /** Opens the test's store (again, after a close, to play a coordinator restart). */
  protected RunStore open() throws Exception {
    if (url == null) url = freshStoreUrl();
    RunStore store = RunStores.open(url);
    opened.add(store);
    return store;
  }

  @AfterEach
  void closeStores() {
    opened.forEach(RunStore::close);
  }

  static RunRecord pending(String runId, long submittedUnixMs) {
    return new RunRecord(runId, "run " + runId, "epochs = 2\nshards = 3\n", RunState.PENDING, submittedUnixMs,
        null, null, null, null);
  }

  static ShardRecord pendingShard(String runId, int shard) {
    return new ShardRecord(runId, shard, shard * 100L, 100, ShardState.PENDING, 1, 0, null, null, 0);
  }

  static RunRecord withStatus(RunRecord run, RunState status) {
    return new RunRecord(run.runId(), run.name(), run.configHocon(), status, run.submittedUnixMs(),
        run.startedUnixMs(), run.finishedUnixMs(), run.finalMetricsJson(), run.failureReason());
  }

  @Test
  void aCreatedRunReadsBackWithEveryFieldAndItsNulls() throws Exception {
    RunStore store = open();
    RunRecord run = pending("r1", 1_700_000_000_000L);
    store.createRun(run);
    assertEquals(Optional.of(run), store.run("r1"));
    assertEquals(Optional.empty(), store.run("r2"));
    assertEquals(List.of(run), store.runs());
  }

  @Test
  void anUpdateReplacesStatusTimesMetricsAndReason() throws Exception {
    RunStore store = open();
    store.createRun(pending("r1", 1000));
    RunRecord running = new RunRecord("r1", "renamed", "epochs = 3", RunState.RUNNING, 1000, 2000L, null, null, null);
    store.updateRun(running);
    assertEquals(Optional.of(running), store.run("r1"));
    RunRecord failed = new RunRecord("r1", "renamed", "epochs = 3", RunState.FAILED, 1000, 2000L, 3000L,
        "{\"loss\": 0.25, \"note\": \"ünïcode ✓\"}", "shard 2 failed 3 times: CUDA out of memory");
    store.updateRun(failed);
    assertEquals(Optional.of(failed), store.run("r1"));
  }

  @Test
  void updatingARunThatWasNeverCreatedFailsNamingTheRun() throws Exception {
    RunStore store = open();
    RunStoreException error = assertThrows(RunStoreException.class, () -> store.updateRun(pending("ghost", 1)));
    assertTrue(error.getMessage().contains("'ghost'") && error.getMessage().contains("create it first"),
        error.getMessage());
    assertEquals(List.of(), store.runs());
  }

  @Test
  void aDuplicateRunIdIsRejectedAndNothingChanges() throws Exception {
    RunStore store = open();
    RunRecord original = pending("r1", 1000);
    store.createRun(original);
    store.upsertShard(pendingShard("r1", 0));
    RunRecord impostor = new RunRecord("r1", "other", "epochs = 9", RunState.RUNNING, 5000, 6000L, null, null, null);
    RunAlreadyExistsException error = assertThrows(RunAlreadyExistsException.class, () -> store.createRun(impostor));
    assertEquals("r1", error.runId());
    assertTrue(error.getMessage().contains("'r1' already exists"), error.getMessage());
    assertEquals(List.of(original), store.runs());
    assertEquals(List.of(pendingShard("r1", 0)), store.shards("r1"));
  }

  @Test
  void shardsAreUpsertedAndListedByIndex() throws Exception {
    RunStore store = open();
    store.createRun(pending("r1", 1000));
    store.createRun(pending("r2", 1000));
    store.upsertShards(List.of(pendingShard("r1", 2), pendingShard("r1", 0), pendingShard("r1", 1)));
    store.upsertShard(pendingShard("r2", 0));
    ShardRecord running = new ShardRecord("r1", 1, 100, 100, ShardState.RUNNING, 2, 1, "host-a/gpu:0",
        "runs/r1/checkpoints/1/step-40", 40);
    store.upsertShard(running);
    assertEquals(List.of(pendingShard("r1", 0), running, pendingShard("r1", 2)), store.shards("r1"));
    assertEquals(List.of(pendingShard("r2", 0)), store.shards("r2"));
    assertEquals(List.of(), store.shards("unknown"));
  }

  @Test
  void aShardOfAnUnknownRunIsRejected() throws Exception {
    RunStore store = open();
    RunStoreException error = assertThrows(RunStoreException.class, () -> store.upsertShard(pendingShard("ghost", 0)));
    assertTrue(error.getMessage().contains("shard 0 of run 'ghost'"), error.getMessage());
    assertEquals(List.of(), store.shards("ghost"));
  }

  @Test
  void upsertShardsWritesAllOrNone() throws Exception {
    RunStore store = open();
    store.createRun(pending("r1", 1000));
    store.upsertShard(pendingShard("r1", 0));
    ShardRecord moved = new ShardRecord("r1", 0, 0, 100, ShardState.ASSIGNED, 1, 0, "w0", null, 0);
    List<ShardRecord> batch = List.of(moved, pendingShard("r1", 1), pendingShard("ghost", 0));
    RunStoreException error = assertThrows(RunStoreException.class, () -> store.upsertShards(batch));
    assertTrue(error.getMessage().contains("none was written"), error.getMessage());
    assertEquals(List.of(pendingShard("r1", 0)), store.shards("r1"), "the failed batch left no trace");
    store.upsertShards(List.of(moved, pendingShard("r1", 1)));
    assertEquals(List.of(moved, pendingShard("r1", 1)), store.shards("r1"), "the connection is usable afterwards");
  }

  @Test
  void runsAreListedBySubmissionTimeThenId() throws Exception {
    RunStore store = open();
    store.createRun(pending("b", 2000));
    store.createRun(pending("c", 1000));
    store.createRun(pending("a", 2000));
    store.createRun(pending("B", 2000));
    assertEquals(List.of("c", "B", "a", "b"), store.runs().stream().map(RunRecord::runId).toList());
  }

  @Test
  void unfinishedRunsLeaveOutCompletedFailedAndStopped() throws Exception {
    RunStore store = open();
    long submitted = 0;
    for (RunState status : RunState.values()) {
      RunRecord run = pending(status.name().toLowerCase(java.util.Locale.ROOT), ++submitted);
      store.createRun(run);
      store.updateRun(withStatus(run, status));
    }
    assertEquals(List.of(RunState.PENDING, RunState.RUNNING, RunState.STOPPING),
        store.unfinishedRuns().stream().map(RunRecord::status).toList());
    assertEquals(RunState.values().length, store.runs().size());
  }

  @Test
  void nextIncarnationIsStrictlyIncreasingAcrossRestarts() throws Exception {
    RunStore first = open();
    long a = first.nextIncarnation();
    long b = first.nextIncarnation();
    assertTrue(a >= 1 && b > a, a + ", " + b);
    first.close();
    RunStore second = open();
    long c = second.nextIncarnation();
    assertTrue(c > b, "a restarted coordinator takes a larger token: " + b + " then " + c);
  }

  @Test
  void concurrentCoordinatorsNeverShareAnIncarnation() throws Exception {
    RunStore store = open();
    RunStore other = open();
    List<Long> taken = runConcurrently(4, thread -> {
      List<Long> mine = new ArrayList<>();
      for (int i = 0; i < 10; i++) mine.add((thread % 2 == 0 ? store : other).nextIncarnation());
      return mine;
    });
    assertEquals(40, taken.stream().distinct().count(), "no token taken twice: " + taken);
    assertEquals(40L, taken.stream().mapToLong(Long::longValue).max().getAsLong());
  }

  @Test
  void aRunSurvivesACoordinatorRestart() throws Exception {
    RunStore before = open();
    RunRecord run = new RunRecord("r1", "survivor", "epochs = 2", RunState.RUNNING, 1000, 1500L, null, null, null);
    before.createRun(pending("r1", 1000));
    before.updateRun(run);
    ShardRecord checkpointed = new ShardRecord("r1", 0, 0, 50, ShardState.RUNNING, 3, 2, "host-b/gpu:1",
        "runs/r1/checkpoints/0/step-120", 120);
    ShardRecord done = new ShardRecord("r1", 1, 50, 50, ShardState.DONE, 1, 0, "host-a/gpu:0",
        "runs/r1/checkpoints/1/step-200", 200);
    before.upsertShards(List.of(checkpointed, done));
    before.close();

    RunStore after = open();
    assertEquals(Optional.of(run), after.run("r1"));
    assertEquals(List.of(run), after.unfinishedRuns());
    assertEquals(List.of(checkpointed, done), after.shards("r1"));
  }

  @Test
  void migrationsAreAppliedOnceAndReopeningChangesNothing() throws Exception {
    RunStore first = open();
    first.createRun(pending("r1", 1000));
    first.close();
    open().close();
    RunStore third = open();
    assertEquals(List.of(pending("r1", 1000)), third.runs());
    try (Connection connection = ((JdbcRunStore) third).dataSource().getConnection();
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery(
            "SELECT COUNT(*), MIN(CAST(success AS INTEGER)) FROM flyway_schema_history WHERE version IS NOT NULL")) {
      rows.next();
      assertEquals(1, rows.getInt(1), "one versioned migration applied, once");
      assertEquals(1, rows.getInt(2), "and it succeeded");
    }
  }

  @Test
  void concurrentUpsertsFromFourThreadsAreAllVisible() throws Exception {
    RunStore store = open();
    store.createRun(pending("r1", 1000));
    int perThread = 25;
    runConcurrently(4, thread -> {
      for (int i = 0; i < perThread; i++) {
        int shard = thread * perThread + i;
        store.upsertShard(pendingShard("r1", shard));
        store.upsertShard(new ShardRecord("r1", shard, shard * 100L, 100, ShardState.RUNNING, 1, 0, "w" + thread,
            null, 0));
      }
      store.updateRun(withStatus(pending("r1", 1000), RunState.RUNNING));
      return List.<Long>of();
    });
    List<ShardRecord> shards = store.shards("r1");
    assertEquals(4 * perThread, shards.size());
    for (int i = 0; i < shards.size(); i++) {
      assertEquals(i, shards.get(i).shard());
      assertEquals(ShardState.RUNNING, shards.get(i).state());
      assertEquals("w" + i / perThread, shards.get(i).workerId());
    }
  }

  private interface ThreadBody {
    List<Long> run(int thread) throws Exception;
  }

  /** Runs the body on {@code threads} threads released together; returns what they returned, all together. */
  private static List<Long> runConcurrently(int threads, ThreadBody body) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<List<Long>>> futures = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int thread = t;
        Callable<List<Long>> task = () -> {
          go.await();
          return body.run(thread);
        };
        futures.add(pool.submit(task));
      }
      go.countDown();
      List<Long> all = new ArrayList<>();
      for (Future<List<Long>> future : futures) all.addAll(future.get(60, TimeUnit.SECONDS));
      return all;
    } finally {
      pool.shutdownNow();
    }
  }
}
