package io.quarry.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/** TLS contexts from PKCS12 stores: a server's key store (HTTPS API) and a client's trust store. */
final class TlsFiles {
  private TlsFiles() {}

  /** A server context holding the key and certificate chain in {@code keyStore}. */
  static SSLContext server(Path keyStore, char[] password, String option) {
    try {
      KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      keys.init(load(keyStore, password, option), password);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(keys.getKeyManagers(), null, null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(option + ": " + keyStore + " holds no usable key: " + e.getMessage(), e);
    }
  }

  /** A client context that trusts the certificates in {@code trustStore} (and only those). */
  static SSLContext client(Path trustStore, char[] password, String option) {
    try {
      TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      trust.init(load(trustStore, password, option));
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, trust.getTrustManagers(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(option + ": " + trustStore + " is not a usable trust store: " + e.getMessage(), e);
    }
  }

  private static KeyStore load(Path file, char[] password, String option) throws GeneralSecurityException {
    if (!Files.isReadable(file)) throw new IllegalArgumentException(option + ": " + file + " does not exist or is not readable");
    KeyStore store = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(file)) {
      store.load(in, password);
    } catch (IOException e) {
      throw new IllegalArgumentException(option + ": cannot read " + file + " as a PKCS12 store (wrong password?): "
          + e.getMessage(), e);
    }
    return store;
  }
}
