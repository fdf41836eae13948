package io.quarry.coordinator.store;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The run store contract on the embedded default: an SQLite file. */
final class SqliteRunStoreTest extends RunStoreContract {
  @TempDir
  Path dir;

  @Override
  protected String freshStoreUrl() {
    return "sqlite:" + dir.resolve("runs").resolve("quarry.db");
  }
}
