package io.quarry.deploy;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * A real headless Chromium for the dashboard tests: Debian's {@code chromium} driven by its {@code chromedriver}
 * (both installed by scripts/install-test-deps.sh), their paths given to Selenium so that its Selenium Manager never
 * looks for (or downloads) a browser or a driver. Screenshots go to {@code target/dashboard-screenshots/}.
 */
final class Browser implements AutoCloseable {
  static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
  static final Path SCREENSHOTS = Path.of("target", "dashboard-screenshots");

  final ChromeDriver driver;
  private final String base;

  Browser(String base) {
    if (!Files.isExecutable(CHROMIUM) || !Files.isExecutable(CHROMEDRIVER)) {
      throw new IllegalStateException(CHROMIUM + " and " + CHROMEDRIVER
          + " are needed: run scripts/install-test-deps.sh (Debian packages chromium and chromium-driver)");
    }
    this.base = base;
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1440,1000", "--no-first-run", "--disable-extensions", "--disable-background-networking",
        "--disable-component-update", "--disable-default-apps", "--disable-sync");
    options.setCapability("goog:loggingPrefs", java.util.Map.of("browser", "ALL"));
    ChromeDriverService service = new ChromeDriverService.Builder()
        .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
    this.driver = new ChromeDriver(service, options);
    driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(30));
    driver.manage().timeouts().scriptTimeout(Duration.ofSeconds(30));
  }

  /** Opens {@code path} of the dashboard. */
  Browser open(String path) {
    driver.get(base + path);
    return this;
  }

  /** Logs in through the login link ({@code /login?token=}). */
  Browser login(String token) {
    return open("/login?token=" + java.net.URLEncoder.encode(token, java.nio.charset.StandardCharsets.UTF_8));
  }

  WebElement find(String css) {
    return driver.findElement(By.cssSelector(css));
  }

  List<WebElement> all(String css) {
    return driver.findElements(By.cssSelector(css));
  }

  /** Waits (bounded) until {@code condition} holds, or fails saying what it waited for. */
  <T> T await(String what, Duration timeout, Function<WebDriver, T> condition) {
    WebDriverWait wait = new WebDriverWait(driver, timeout, Duration.ofMillis(100));
    // Live pages redraw their tables: an element found a moment ago may be gone; the condition is simply tried again.
    wait.ignoring(org.openqa.selenium.StaleElementReferenceException.class);
    wait.withMessage(() -> what + " (page " + driver.getCurrentUrl() + " showing: " + shown() + "; browser console: "
        + console() + ")");
    return wait.until(condition);
  }

  /** The start of the page's text, for failure messages. */
  String shown() {
    try {
      String text = driver.findElement(By.tagName("body")).getText();
      return text.length() > 600 ? text.substring(0, 600) + "..." : text;
    } catch (RuntimeException e) {
      return "(unavailable)";
    }
  }

  /** What the page wrote to its console (errors included), for failure messages. */
  String console() {
    try {
      return driver.manage().logs().get(org.openqa.selenium.logging.LogType.BROWSER).getAll().stream()
          .map(entry -> entry.getLevel() + " " + entry.getMessage()).toList().toString();
    } catch (RuntimeException e) {
      return "(unavailable: " + e.getMessage() + ")";
    }
  }

  /** The element, once present. */
  WebElement awaitElement(String css) {
    return await("element " + css, Duration.ofSeconds(30), d -> {
      List<WebElement> found = d.findElements(By.cssSelector(css));
      return found.isEmpty() ? null : found.get(0);
    });
  }

  Object script(String script, Object... args) {
    return ((JavascriptExecutor) driver).executeScript(script, args);
  }

  /** Saves a screenshot of the page as {@code target/dashboard-screenshots/<name>.png}. */
  Path screenshot(String name) throws java.io.IOException {
    Files.createDirectories(SCREENSHOTS);
    File shot = ((TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
    Path target = SCREENSHOTS.resolve(name + ".png");
    Files.copy(shot.toPath(), target, StandardCopyOption.REPLACE_EXISTING);
    return target;
  }

  @Override
  public void close() {
    driver.quit();
  }
}
