package io.quarry.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A throwaway self-signed key store and a trust store holding its certificate, made with the JDK's keytool in a
 * test's temporary directory (no key is ever committed), and the tls-tcp settings that use them.
 */
final class TestKeyStores {
  static final String PASSWORD = "quarry-test-only";

  private TestKeyStores() {}

  /** The {@code pekko.remote.artery.ssl.config-ssl-engine} settings for stores made (once) in dir. */
  static Config tlsConfig(Path dir) throws Exception {
    Path keyStore = dir.resolve("node.p12");
    Path trustStore = dir.resolve("trust.p12");
    if (!Files.exists(trustStore)) create(dir, keyStore, trustStore);
    return ConfigFactory.parseString(String.join("\n",
        "pekko.remote.artery.ssl.config-ssl-engine {",
        "  key-store = \"" + keyStore + "\"",
        "  key-store-password = \"" + PASSWORD + "\"",
        "  key-password = \"" + PASSWORD + "\"",
        "  trust-store = \"" + trustStore + "\"",
        "  trust-store-password = \"" + PASSWORD + "\"",
        "}"));
  }

  /**
   * A key store for an HTTPS server on 127.0.0.1 (its certificate names that address, so a client's host name check
   * passes) and a trust store with its certificate, made once in {@code dir}: {@code https.p12}, {@code https-trust.p12}.
   */
  static Path[] httpsStores(Path dir) throws Exception {
    Path keyStore = dir.resolve("https.p12");
    Path trustStore = dir.resolve("https-trust.p12");
    if (!Files.exists(trustStore)) create(dir, keyStore, trustStore, "SAN=ip:127.0.0.1,dns:localhost");
    return new Path[] {keyStore, trustStore};
  }

  private static void create(Path dir, Path keyStore, Path trustStore) throws Exception {
    create(dir, keyStore, trustStore, null);
  }

  private static void create(Path dir, Path keyStore, Path trustStore, String extension) throws Exception {
    String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
    Path cert = dir.resolve(keyStore.getFileName() + ".crt");
    List<String> generate = new java.util.ArrayList<>(List.of(keytool, "-genkeypair", "-alias", "quarry", "-keyalg", "EC",
        "-groupname", "secp256r1", "-validity", "2", "-dname", "CN=quarry-test", "-storetype", "PKCS12", "-keystore",
        keyStore.toString(), "-storepass", PASSWORD, "-keypass", PASSWORD));
    if (extension != null) generate.addAll(List.of("-ext", extension));
    keytool(generate);
    keytool(List.of(keytool, "-exportcert", "-alias", "quarry", "-keystore", keyStore.toString(),
        "-storepass", PASSWORD, "-rfc", "-file", cert.toString()));
    keytool(List.of(keytool, "-importcert", "-noprompt", "-alias", "quarry", "-file", cert.toString(),
        "-storetype", "PKCS12", "-keystore", trustStore.toString(), "-storepass", PASSWORD));
  }

  private static void keytool(List<String> command) throws Exception {
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes());
    if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
      process.destroyForcibly();
      throw new IllegalStateException("keytool failed: " + command.get(1) + "\n" + output);
    }
  }
}
