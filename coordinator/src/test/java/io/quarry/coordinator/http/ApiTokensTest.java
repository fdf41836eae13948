package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.coordinator.http.ApiTokens.Role;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ApiTokensTest {
  private static final String OPERATE = "operate-token-0123456789abcdef";
  private static final String READ = "read-token-0123456789abcdefghij";

  @TempDir Path dir;

  private Optional<Role> role(ApiTokens tokens, String token) {
    return tokens.caller(token).map(ApiTokens.Caller::role);
  }

  @Test
  void eachTokenHasItsRoleAndNothingElseIsKnown() throws Exception {
    Path file = Files.writeString(dir.resolve("tokens"), "# comment\n\noperate " + OPERATE + "\n  read   " + READ + "  \n");
    ApiTokens tokens = ApiTokens.fromFile(file);
    assertEquals(Optional.of(Role.OPERATE), role(tokens, OPERATE));
    assertEquals(Optional.of(Role.READ), role(tokens, READ));
    assertEquals(Optional.empty(), role(tokens, OPERATE + "x"));
    assertEquals(Optional.empty(), role(tokens, ""));
    assertEquals(Optional.empty(), role(tokens, null));
    assertTrue(Role.OPERATE.allows(Role.READ) && !Role.READ.allows(Role.OPERATE));
    // The caller's id is not the token.
    String id = tokens.caller(OPERATE).orElseThrow().id();
    assertEquals(8, id.length());
    assertTrue(!OPERATE.contains(id));
  }

  @Test
  void aBrokenFileIsRefusedNamingTheFileAndTheLine() throws Exception {
    for (String[] bad : new String[][] {
        {"admin " + OPERATE, "line 1: unknown role 'admin'; allowed: read, operate"},
        {"operate short", "line 1: the token is 5 characters; allowed: at least 24"},
        {"# only\noperate", "line 2: expected `ROLE TOKEN`"},
        {"# nothing\n", "holds no token"}}) {
      Path file = Files.writeString(dir.resolve("bad"), bad[0]);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ApiTokens.fromFile(file));
      assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains(bad[1]), e.getMessage());
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ApiTokens.fromFile(dir.resolve("missing")));
    assertTrue(e.getMessage().contains("cannot read the API tokens file"), e.getMessage());
  }

  @Test
  void aChangedFileIsReadAgainAndABrokenChangeKeepsTheTokensThatWorked() throws Exception {
    Path file = Files.writeString(dir.resolve("tokens"), "operate " + OPERATE + "\n");
    AtomicLong nanos = new AtomicLong();
    ApiTokens tokens = ApiTokens.fromFile(file, nanos::get);

    Files.writeString(file, "read " + READ + "\n");
    Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5_000));
    assertEquals(Optional.of(Role.OPERATE), role(tokens, OPERATE), "not looked at again within a second");
    nanos.addAndGet(2_000_000_000L);
    assertEquals(Optional.empty(), role(tokens, OPERATE), "revoked");
    assertEquals(Optional.of(Role.READ), role(tokens, READ), "added");

    Files.writeString(file, "operate\n");
    Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 10_000));
    nanos.addAndGet(2_000_000_000L);
    assertEquals(Optional.of(Role.READ), role(tokens, READ), "a broken file changes nothing");
  }

  @Test
  void theDefaultFileHasOneOperateTokenOnlyItsOwnerCanReadAndIsKeptAcrossStarts() throws Exception {
    Path file = ApiTokens.ensureDefaultFile(dir.resolve("runs"));
    assertEquals(dir.resolve("runs/api-token"), file);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    String first = Files.readString(file);
    ApiTokens tokens = ApiTokens.fromFile(file);
    String token = first.lines().filter(l -> l.startsWith("operate ")).findFirst().orElseThrow().substring(8);
    assertEquals(Optional.of(Role.OPERATE), role(tokens, token));
    assertTrue(token.length() >= 40, "32 random bytes: " + token.length());
    assertEquals(file, ApiTokens.ensureDefaultFile(dir.resolve("runs")));
    assertEquals(first, Files.readString(file), "a second start keeps the token");
  }

  @Test
  void withoutAuthenticationEveryoneOperates() {
    ApiTokens none = ApiTokens.insecureNoAuth();
    assertEquals(Optional.of(Role.OPERATE), role(none, null));
    assertEquals(false, none.required());
  }
}
