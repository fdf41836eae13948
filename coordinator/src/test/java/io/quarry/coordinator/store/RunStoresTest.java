package io.quarry.coordinator.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Opening a store from the URL a person typed, and what happens when it points at the wrong thing. */
class RunStoresTest {
  @TempDir
  Path dir;

  @Test
  void theSqliteFormCreatesTheFileAndItsDirectories() {
    Path file = dir.resolve("a/b/quarry.db");
    try (RunStore store = RunStores.open("sqlite:" + file)) {
      store.createRun(RunStoreContract.pending("r1", 1));
    }
    assertTrue(Files.isRegularFile(file));
    try (RunStore store = RunStores.open("jdbc:sqlite:" + file)) {
      assertEquals(List.of(RunStoreContract.pending("r1", 1)), store.runs(), "both forms open the same file");
    }
  }

  @Test
  void anUnknownSchemeIsRejectedNamingTheUrlAndTheAllowedForms() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> RunStores.open("mysql://db:3306/quarry?password=secret"));
    String message = error.getMessage();
    assertTrue(message.contains("'mysql://db:3306/quarry?password=***'"), message);
    assertFalse(message.contains("secret"), message);
    assertTrue(message.contains("sqlite:<path>") && message.contains("jdbc:postgresql://"), message);
    assertThrows(IllegalArgumentException.class, () -> RunStores.open(" "));
  }

  @Test
  void anInMemorySqliteStoreIsRejectedBecauseItForgetsEveryRun() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> RunStores.open("jdbc:sqlite::memory:"));
    assertTrue(error.getMessage().contains("in-memory"), error.getMessage());
  }

  @Test
  void aTextFileAtTheSqlitePathIsRefusedByNameAndLeftUntouched() throws Exception {
    Path file = dir.resolve("quarry.db");
    byte[] text = "run_id,status\nr1,RUNNING\n".getBytes(StandardCharsets.UTF_8);
    Files.write(file, text);
    RunStoreException error = assertThrows(RunStoreException.class, () -> RunStores.open("sqlite:" + file));
    assertTrue(error.getMessage().contains(file.toString()) && error.getMessage().contains("not an SQLite database"),
        error.getMessage());
    assertArrayEquals(text, Files.readAllBytes(file));
    assertEquals(List.of(file), listDir(), "no journal or WAL file was left beside it");
  }

  @Test
  void aCorruptSqliteFileIsRefusedByNameAndLeftUntouched() throws Exception {
    Path file = dir.resolve("quarry.db");
    byte[] corrupt = new byte[8192];
    new Random(7).nextBytes(corrupt);
    byte[] header = "SQLite format 3\0".getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(header, 0, corrupt, 0, header.length);
    Files.write(file, corrupt);
    RunStoreException error = assertThrows(RunStoreException.class, () -> RunStores.open("sqlite:" + file));
    assertTrue(error.getMessage().contains(file.toString()), error.getMessage());
    assertArrayEquals(corrupt, Files.readAllBytes(file));
  }

  @Test
  void anotherApplicationsSqliteDatabaseIsRefusedAndKeepsItsData() throws Exception {
    Path file = dir.resolve("theirs.db");
    try (Connection connection = DriverManager.getConnection("jdbc:sqlite:" + file);
        Statement statement = connection.createStatement()) {
      statement.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)");
      statement.execute("INSERT INTO invoices VALUES (1, 9.5)");
    }
    byte[] before = Files.readAllBytes(file);
    RunStoreException error = assertThrows(RunStoreException.class, () -> RunStores.open("sqlite:" + file));
    assertTrue(error.getMessage().contains(file.toString()), error.getMessage());
    assertArrayEquals(before, Files.readAllBytes(file));
  }

  @Test
  void aDirectoryAtTheSqlitePathIsRefused() {
    RunStoreException error = assertThrows(RunStoreException.class, () -> RunStores.open("sqlite:" + dir));
    assertTrue(error.getMessage().contains("is a directory"), error.getMessage());
  }

  @Test
  void anUnreachableServerFailsNamingTheUrlWithoutItsPassword() {
    String url = "jdbc:postgresql://127.0.0.1:1/quarry?user=quarry&password=hunter2";
    RunStoreException error = assertThrows(RunStoreException.class, () -> RunStores.open(url, Map.of()));
    assertTrue(error.getMessage().contains("jdbc:postgresql://127.0.0.1:1/quarry?user=quarry&password=***"),
        error.getMessage());
    assertFalse(error.getMessage().contains("hunter2"), error.getMessage());
  }

  private List<Path> listDir() throws Exception {
    try (var files = Files.list(dir)) {
      return files.toList();
    }
  }
}
