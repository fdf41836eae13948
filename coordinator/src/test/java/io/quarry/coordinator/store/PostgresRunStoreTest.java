package io.quarry.coordinator.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The run store contract on a real PostgreSQL server, started once for the class from Maven Central's embedded
 * binaries; each test gets its own database. If the server cannot start, the class fails saying why: it is
 * never skipped.
 */
final class PostgresRunStoreTest extends RunStoreContract {
  private static EmbeddedPostgresServer server;

  @BeforeAll
  static void startServer() {
    server = EmbeddedPostgresServer.start();
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (server != null) server.close();
  }

  @Override
  protected String freshStoreUrl() throws Exception {
    return server.createDatabase();
  }

  @Test
  void takesTheUserFromTheEnvironmentWhenTheUrlHasNone() throws Exception {
    String withUser = server.createDatabase();
    String withoutUser = withUser.substring(0, withUser.indexOf('?'));
    try (RunStore store = RunStores.open(withoutUser, Map.of(RunStores.USER_ENV, "postgres"))) {
      store.createRun(pending("r1", 1));
      assertEquals(List.of(pending("r1", 1)), store.runs());
    }
  }
}
