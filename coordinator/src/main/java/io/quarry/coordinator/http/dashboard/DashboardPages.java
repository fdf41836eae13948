package io.quarry.coordinator.http.dashboard;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;

/**
 * The dashboard's pages and where its scripts come from, all inside the jar: the page shell every page is drawn in
 * ({@code index.html}; the scripts draw the page the address names), the login page, the scripts and styles under
 * {@code io/quarry/dashboard/assets/}, and uPlot from its WebJar (the version found in the WebJar's own Maven
 * metadata, so the pom's pin is the only place it is written). Nothing is fetched from any other place: the pages'
 * Content-Security-Policy allows only this origin.
 */
final class DashboardPages {
  static final String ASSETS = "io/quarry/dashboard/assets";
  private static final String UPLOT_METADATA = "META-INF/maven/org.webjars.npm/uplot/pom.properties";
  static final String CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' "
      + "'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
      + "base-uri 'none'";

  private final byte[] shell;
  private final byte[] login;
  private final String uplotDirectory;

  DashboardPages() {
    this.shell = resource("io/quarry/dashboard/index.html");
    this.login = resource("io/quarry/dashboard/login.html");
    this.uplotDirectory = "META-INF/resources/webjars/uplot/" + uplotVersion() + "/dist";
  }

  /** Where uPlot's files are on the class path. */
  String uplotDirectory() {
    return uplotDirectory;
  }

  /** The page shell, with {@code status} (404 for a run that does not exist: the page says so). */
  HttpResponse shell(StatusCode status) {
    return page(status, shell);
  }

  /** The login form, with {@code status} (401 where a page was asked for without a login). */
  HttpResponse login(StatusCode status) {
    return page(status, login);
  }

  private static HttpResponse page(StatusCode status, byte[] body) {
    return HttpResponse.create()
        .withStatus(status)
        .withEntity(ContentTypes.TEXT_HTML_UTF8, body)
        .addHeader(HttpHeader.parse("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .addHeader(HttpHeader.parse("X-Content-Type-Options", "nosniff"))
        .addHeader(HttpHeader.parse("Referrer-Policy", "same-origin"))
        .addHeader(HttpHeader.parse("Cache-Control", "no-store"));
  }

  private static String uplotVersion() {
    Properties properties = new Properties();
    try (InputStream in = DashboardPages.class.getClassLoader().getResourceAsStream(UPLOT_METADATA)) {
      if (in == null) throw new IllegalStateException(UPLOT_METADATA + " is missing: the uPlot WebJar is not on the class path");
      properties.load(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return properties.getProperty("version");
  }

  private static byte[] resource(String path) {
    try (InputStream in = DashboardPages.class.getClassLoader().getResourceAsStream(path)) {
      if (in == null) throw new IllegalStateException(path + " is missing from the class path");
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
