package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.HttpApi;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;

/**
 * The dashboard in a real headless Chromium, served by a local coordinator with two workers (the stub trainer): the
 * runs table, a live run's chart growing without a reload, Stop and Resume, the hard-example explorer, Compare, the
 * new-run form and a sweep from it, the cluster page, alerts, an unknown run's page, and the login that a browser
 * without a token is asked for; and the dashboards of {@code quarry dashboard} (offline, over run directories) and
 * {@code quarry local --dashboard}. Each test saves screenshots under target/dashboard-screenshots/.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class DashboardBrowserTest {
  static final String OPERATE_TOKEN = "operate-token-for-the-dashboard-tests-0123456789";
  static final String READ_TOKEN = "read-token-for-the-dashboard-tests-0123456789ab";
  private static final ObjectMapper JSON = new ObjectMapper();

  Path tmp;
  LocalCluster cluster;
  ServerBinding binding;
  Browser browser;
  String base;
  final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  void start() throws Exception {
    tmp = Files.createTempDirectory("quarry-dashboard-test");
    cluster = LocalCluster.start(2, tmp.resolve("runs"), ConfigFactory.parseResources("application-test.conf"));
    Path tokens = Files.writeString(tmp.resolve("api-tokens"), "operate " + OPERATE_TOKEN + "\nread " + READ_TOKEN + "\n");
    // As a coordinator node and quarry local --dashboard serve it: with sweeps from the New run form expanded.
    binding = HttpApi.bind(cluster.system(), cluster.coordinator(), ApiTokens.fromFile(tokens), "127.0.0.1", 0,
        java.util.Optional.empty(), new DashboardSweeps(256)).toCompletableFuture().get(30, TimeUnit.SECONDS);
    base = "http://127.0.0.1:" + binding.localAddress().getPort();
    browser = new Browser(base);
    browser.login(OPERATE_TOKEN);
  }

  @AfterAll
  void stop() throws Exception {
    if (browser != null) browser.close();
    if (binding != null) binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    if (cluster != null) cluster.close();
    if (tmp != null) {
      try (var paths = Files.walk(tmp)) {
        paths.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
      }
    }
  }

  /** Submits a run with {@code overrides} over the stub's defaults; returns at once. */
  void submit(String runId, String... overrides) throws Exception {
    RunConfig config = RunConfig.fromOverrides(List.of(overrides), Map.of());
    SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
  }

  JsonNode apiGet(String path) throws Exception {
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(base + path))
        .header("Authorization", "Bearer " + OPERATE_TOKEN).GET().build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, response.statusCode(), response.body());
    return JSON.readTree(response.body());
  }

  JsonNode awaitState(String runId, String state) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      JsonNode run = apiGet("/api/runs/" + runId);
      if (state.equals(run.get("state").asText())) return run;
      if (System.nanoTime() > deadline) throw new AssertionError("run " + runId + " never reached " + state + ": " + run);
      Thread.sleep(50);
    }
  }

  /** The text of run {@code runId}'s row, read in one step: the live table redraws its rows at any time. */
  String rowText(String runId) {
    return String.valueOf(browser.script(
        "const row = document.querySelector('tr[data-run=\"' + arguments[0] + '\"]'); return row ? row.innerText : '';",
        runId));
  }

  int points(String chart) {
    return Integer.parseInt(browser.find("[data-chart=" + chart + "]").getAttribute("data-points"));
  }

  @Test
  void theRunsTableListsTheRuns() throws Exception {
    submit("listed-a", "stub.samples=400", "stub.step-time=0", "epochs=1", "name=\"first of two\"");
    submit("listed-b", "stub.samples=400", "stub.step-time=0", "epochs=1");
    awaitState("listed-a", "completed");
    awaitState("listed-b", "completed");

    browser.open("/");
    // The table follows the runs as the coordinator reports them, a fraction of a second late at most.
    browser.await("both runs listed as completed", Duration.ofSeconds(20), d ->
        rowText("listed-a").contains("completed") && rowText("listed-b").contains("completed") ? true : null);
    assertTrue(rowText("listed-a").contains("first of two"), rowText("listed-a"));
    browser.find("#text-filter").sendKeys("listed-b");
    browser.await("the filter leaves listed-b", Duration.ofSeconds(10), d ->
        d.findElements(By.cssSelector("tr[data-run=listed-a]")).isEmpty());
    browser.find("#text-filter").clear();
    browser.find("#text-filter").sendKeys(" ");
    browser.screenshot("runs");
  }

  @Test
  void aLiveRunsChartGainsPointsWithoutAReloadAndStopStopsIt() throws Exception {
    submit("live", "stub.samples=200000", "stub.step-time=20ms", "epochs=1", "batch-size=32");
    awaitState("live", "running");

    browser.open("/runs/live");
    browser.script("window.notReloaded = true;");
    int first = browser.await("the loss chart has points", Duration.ofSeconds(30), d -> points("loss") > 0 ? points("loss") : null);
    browser.await("the loss chart gains points", Duration.ofSeconds(30), d -> points("loss") > first + 5 ? true : null);
    assertEquals(Boolean.TRUE, browser.script("return window.notReloaded === true;"), "the page was not reloaded");
    browser.screenshot("run-live");

    browser.open("/cluster");
    browser.await("the cluster page shows workers on the live run", Duration.ofSeconds(20), d ->
        d.findElement(By.id("workers-body")).getText().contains("live") ? true : null);
    browser.screenshot("cluster-busy");
    browser.open("/runs/live");

    browser.awaitElement("#stop-run:not([hidden])").click();
    browser.awaitElement("#stop-dialog[open]");
    browser.screenshot("run-stop-confirmation");
    browser.find("#stop-confirm").click();
    JsonNode stopped = awaitState("live", "stopped");
    assertEquals("stopped from the dashboard", stopped.get("reason").asText());
    browser.await("the page shows the run stopped", Duration.ofSeconds(20), d ->
        d.findElement(By.id("run-state")).getText().contains("stopped") ? true : null);
    assertTrue(browser.find("#stop-run").getAttribute("hidden") != null, "no Stop button for an ended run");
  }

  @Test
  void aStoppedRunResumesFromItsPageAndABadOverrideGetsTheCoordinatorsReason() throws Exception {
    submit("resumable", "stub.samples=20000", "stub.step-time=20ms", "epochs=1");
    awaitState("resumable", "running");
    cluster.stop("resumable", "stopped by the test").toCompletableFuture().get(10, TimeUnit.SECONDS);
    awaitState("resumable", "stopped");

    browser.open("/runs/resumable");
    browser.awaitElement("#resume-run:not([hidden])").click();
    browser.awaitElement("#resume-dialog[open]");
    browser.find("#resume-overrides").sendKeys("batch-size=64");
    browser.find("#resume-confirm").click();
    browser.await("the coordinator's reason for batch-size", Duration.ofSeconds(20), d ->
        d.findElement(By.id("stop-message")).getText().contains("batch-size") ? true : null);
    assertEquals("stopped", apiGet("/api/runs/resumable").get("state").asText(), "a refused resume changes nothing");

    browser.find("#resume-run").click();
    browser.awaitElement("#resume-dialog[open]");
    browser.find("#resume-overrides").clear();
    browser.find("#resume-overrides").sendKeys("max-attempts=5");
    browser.screenshot("run-resume");
    browser.find("#resume-confirm").click();
    awaitState("resumable", "completed");
    browser.await("the page shows it completed, with no Resume", Duration.ofSeconds(20), d ->
        d.findElement(By.id("run-state")).getText().contains("completed")
            && d.findElement(By.id("resume-run")).getAttribute("hidden") != null ? true : null);
  }

  @Test
  void theHardExampleExplorerShowsLoadedThumbnailsOfADjlShapesRunAndItsMergeSliderChangesThem() throws Exception {
    submit("shapes", "trainer=djl", "dataset.format=synthetic", "dataset.synthetic=shapes", "dataset.samples=640",
        "model.type=cnn", "model.channels=[4]", "model.hidden=[16]", "epochs=3", "batch-size=32", "hard-examples.k=12",
        "hard-examples.merge-interval=200ms");
    awaitState("shapes", "completed");

    browser.open("/runs/shapes/hard-examples");
    browser.awaitElement("#cards .card");
    Object loaded = browser.await("every thumbnail loaded", Duration.ofSeconds(20), d -> browser.script(
        "const imgs = [...document.querySelectorAll('#cards img.thumb')];"
            + "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.length : null;"));
    assertTrue(((Number) loaded).intValue() > 0);
    String last = shownSamples();
    long merges = (Long) browser.script("return Number(document.getElementById('merge-slider').max);");
    assertTrue(merges >= 1, "several merges: " + (merges + 1));
    browser.screenshot("hard-examples");

    // The earliest merge with entries (the very first may come before any step) shows other samples.
    boolean changed = false;
    for (int merge = 0; merge < merges && !changed; merge++) {
      int index = merge;
      browser.script("const s = document.getElementById('merge-slider'); s.value = arguments[0];"
          + "s.dispatchEvent(new Event('input', {bubbles: true}));", index);
      browser.await("merge " + index + " is shown", Duration.ofSeconds(20), d ->
          browser.find("#merge-label").getText().contains("(" + (index + 1) + " of") ? true : null);
      changed = !browser.all("#cards .card").isEmpty() && !shownSamples().equals(last);
    }
    assertTrue(changed, "an earlier merge shows other samples than the last");
    browser.await("its thumbnails loaded too", Duration.ofSeconds(20), d -> browser.script(
        "const imgs = [...document.querySelectorAll('#cards img.thumb')];"
            + "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0) ? true : null;"));

    browser.find("#cards .card").click();
    browser.awaitElement("#history[open] #history-table tbody tr");
    browser.screenshot("hard-examples-history");
  }

  String shownSamples() {
    return String.valueOf(browser.script(
        "return [...document.querySelectorAll('#cards .card')].map(c => c.dataset.sample).join(',');"));
  }

  @Test
  void theOfflineDashboardShowsAFinishedRunAndFollowsOneStillBeingWritten() throws Exception {
    submit("offline-done", "stub.samples=400", "stub.step-time=0", "epochs=2");
    awaitState("offline-done", "completed");
    submit("offline-live", "stub.samples=200000", "stub.step-time=20ms", "epochs=1");
    awaitState("offline-live", "running");
    try (NodeProcesses nodes = new NodeProcesses(tmp.resolve("node-logs"))) {
      nodes.start("dashboard", Map.of("QUARRY_LOG_LEVEL", "WARN"), "dashboard", "--runs-dir",
          tmp.resolve("runs").toString(), "--port", "0");
      nodes.awaitLog("dashboard", "/login?token=", Duration.ofSeconds(60));
      java.util.regex.Matcher link = java.util.regex.Pattern.compile("(http://127\\.0\\.0\\.1:\\d+)/login\\?token=(\\S+)")
          .matcher(nodes.logText("dashboard"));
      assertTrue(link.find(), nodes.logText("dashboard"));
      try (Browser offline = new Browser(link.group(1))) {
        offline.login(link.group(2));
        offline.await("the finished run listed", Duration.ofSeconds(20), d ->
            d.findElements(By.cssSelector("tr[data-run=offline-done]")).isEmpty() ? null : true);
        assertTrue(offline.find("#mode").getText().contains("read-only"), offline.find("#mode").getText());
        offline.screenshot("offline-runs");

        offline.open("/runs/offline-done");
        offline.await("the run shows completed", Duration.ofSeconds(20), d ->
            d.findElement(By.id("run-state")).getText().contains("completed") ? true : null);
        offline.await("its loss chart has points", Duration.ofSeconds(20), d ->
            Integer.parseInt(offline.find("[data-chart=loss]").getAttribute("data-points")) > 0 ? true : null);
        assertTrue(offline.find("#stop-run").getAttribute("hidden") != null, "read-only: no Stop");
        offline.screenshot("offline-run");

        offline.open("/runs/offline-live");
        int first = offline.await("the live run's chart has points", Duration.ofSeconds(30), d -> {
          int n = Integer.parseInt(offline.find("[data-chart=loss]").getAttribute("data-points"));
          return n > 0 ? n : null;
        });
        offline.await("and gains more as the coordinator writes them", Duration.ofSeconds(30), d ->
            Integer.parseInt(offline.find("[data-chart=loss]").getAttribute("data-points")) > first + 5 ? true : null);
      }
    } finally {
      cluster.stop("offline-live", "test over").toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void quarryLocalWithDashboardServesItsRunWhileItLastsAndItsStopEndsTheRun() throws Exception {
    try (NodeProcesses nodes = new NodeProcesses(tmp.resolve("node-logs"))) {
      Process local = nodes.start("local-dashboard", Map.of("QUARRY_LOG_LEVEL", "WARN"), "local", "--dashboard",
          "--dashboard-port", "0", "--workers", "2", "--trainer", "stub", "--run-id", "local-dash", "--runs-dir",
          tmp.resolve("local-runs").toString(), "stub.samples=200000", "stub.step-time=20ms", "epochs=1");
      nodes.awaitLog("local-dashboard", "/login?token=", Duration.ofSeconds(60));
      java.util.regex.Matcher link = java.util.regex.Pattern.compile(
          "quarry local: dashboard at (http://127\\.0\\.0\\.1:\\d+)/login\\?token=(\\S+)")
          .matcher(nodes.logText("local-dashboard"));
      assertTrue(link.find(), nodes.logText("local-dashboard"));
      try (Browser page = new Browser(link.group(1))) {
        page.login(link.group(2));
        page.open("/runs/local-dash");
        int first = page.await("the local run's chart has points", Duration.ofSeconds(60), d -> {
          int n = Integer.parseInt(page.find("[data-chart=loss]").getAttribute("data-points"));
          return n > 0 ? n : null;
        });
        page.await("and gains more", Duration.ofSeconds(30), d ->
            Integer.parseInt(page.find("[data-chart=loss]").getAttribute("data-points")) > first + 5 ? true : null);
        // The header's steps come from the workers' lifecycle progress reports (every second), not the charts' rows.
        page.await("the header counts steps", Duration.ofSeconds(30), d ->
            page.find("#run-summary").getText().lines().anyMatch(line -> line.matches("[1-9][0-9]* / [0-9]+")) ? true : null);
        page.screenshot("local-run");
        page.find("#stop-run").click();
        page.awaitElement("#stop-dialog[open]");
        page.find("#stop-confirm").click();
        assertTrue(local.waitFor(60, TimeUnit.SECONDS), "quarry local ends when its run is stopped:\n"
            + nodes.tail("local-dashboard"));
        assertEquals(1, local.exitValue(), "a stopped run exits 1:\n" + nodes.tail("local-dashboard"));
      }
    }
  }

  @Test
  void twoRunsOverlayOnCompareWithTheKeysTheyDifferIn() throws Exception {
    submit("cmp-0", "stub.samples=600", "stub.step-time=0", "epochs=2", "optimizer.lr=0.1");
    submit("cmp-1", "stub.samples=600", "stub.step-time=0", "epochs=2", "optimizer.lr=0.01", "seed=2");
    awaitState("cmp-0", "completed");
    awaitState("cmp-1", "completed");

    browser.open("/compare?runs=cmp-0,cmp-1");
    browser.await("both runs' loss curves drawn", Duration.ofSeconds(20), d -> {
      List<WebElement> legend = d.findElements(By.cssSelector("[data-chart=cmp_loss] .u-legend"));
      return !legend.isEmpty() && legend.get(0).getText().contains("cmp-0") && legend.get(0).getText().contains("cmp-1")
          && Integer.parseInt(browser.find("[data-chart=cmp_loss]").getAttribute("data-points")) > 0 ? true : null;
    });
    assertTrue(browser.find("#differ-table").getText().contains("optimizer.lr"), browser.find("#differ-table").getText());
    assertTrue(browser.find(".sweep-table").getText().contains("cmp-1"), "the two runs are a sweep: its table");
    browser.screenshot("compare");
  }

  @Test
  void theNewRunFormRefusesABadValueWithTheSchemasMessageAndSubmitsAGoodRun() throws Exception {
    String expected;
    try {
      RunConfig.fromOverrides(List.of("epochs=0"), Map.of());
      throw new AssertionError("epochs=0 was accepted");
    } catch (io.quarry.config.RunConfigException e) {
      expected = e.getMessage();
    }
    browser.open("/new");
    browser.awaitElement("#key-epochs").sendKeys("0");
    browser.await("the schema's message for epochs=0", Duration.ofSeconds(20), d ->
        d.findElement(By.id("validation")).getText().equals(expected) ? true : null);
    assertTrue(browser.find("#key-epochs").getAttribute("class").contains("invalid"));
    assertTrue(!browser.find("#review").isEnabled(), "nothing to submit while the config is bad");
    browser.screenshot("new-run-error");

    browser.find("#key-epochs").clear();
    browser.find("#key-epochs").sendKeys("1");
    browser.find("#key-stub\\.samples").sendKeys("400");
    browser.find("#key-stub\\.step-time").sendKeys("0");
    browser.find("#run-id").sendKeys("from-form");
    browser.await("the config is good", Duration.ofSeconds(20), d ->
        d.findElement(By.id("validation")).getText().startsWith("OK: 1 run") && d.findElement(By.id("review")).isEnabled()
            ? true : null);
    browser.find("#review").click();
    browser.awaitElement("#submit-run");
    browser.script("document.getElementById('summary').scrollIntoView({block: 'center'});");
    browser.screenshot("new-run-summary");
    browser.find("#submit-run").click();
    browser.await("the new run's page", Duration.ofSeconds(20), d -> d.getCurrentUrl().endsWith("/runs/from-form") ? true : null);
    JsonNode run = awaitState("from-form", "completed");
    assertEquals(1, apiGet("/api/runs/from-form").get("total_steps").asLong() > 0 ? 1 : 0, run.toString());
  }

  @Test
  void aSweepStartsFromTheNewRunFormWithCommaLists() throws Exception {
    browser.open("/new");
    browser.awaitElement("#key-epochs").sendKeys("1");
    browser.find("#key-stub\\.samples").sendKeys("400");
    browser.find("#key-stub\\.step-time").sendKeys("0");
    browser.find("#key-optimizer\\.lr").sendKeys("0.1,0.01");
    browser.find("#run-id").sendKeys("form-sweep");
    browser.await("a comma list is refused until sweep is ticked", Duration.ofSeconds(20), d ->
        d.findElement(By.id("validation")).getText().contains("optimizer.lr") ? true : null);
    browser.find("#sweep").click();
    browser.await("two runs", Duration.ofSeconds(20), d ->
        d.findElement(By.id("validation")).getText().startsWith("OK: 2 run") && d.findElement(By.id("review")).isEnabled()
            ? true : null);
    browser.find("#review").click();
    WebElement summary = browser.awaitElement("#summary:not([hidden])");
    assertTrue(summary.getText().contains("Start this sweep of 2 runs?"), summary.getText());
    assertTrue(summary.getText().contains("form-sweep-1"), summary.getText());
    browser.find("#submit-run").click();
    browser.await("the Runs page", Duration.ofSeconds(20), d -> d.getCurrentUrl().equals(base + "/") ? true : null);
    awaitState("form-sweep-0", "completed");
    awaitState("form-sweep-1", "completed");
  }

  @Test
  void theClusterPageListsTheWorkersAndTheirHostsLoad() throws Exception {
    browser.open("/cluster");
    browser.await("both workers listed", Duration.ofSeconds(20), d ->
        d.findElements(By.cssSelector("tr[data-worker=local-0]")).isEmpty()
            || d.findElements(By.cssSelector("tr[data-worker=local-1]")).isEmpty() ? null : true);
    // Workers report their host's load every quarry.worker.host-report-interval (5 s).
    browser.await("the host's CPU and memory", Duration.ofSeconds(30), d ->
        d.findElement(By.id("hosts-body")).getText().contains("GiB") ? true : null);
    browser.screenshot("cluster");
  }

  @Test
  void aNonFiniteLossRaisesAnAlertShownOnTheRunAndItsRowAndStopsTheRunWhenAskedTo() throws Exception {
    submit("diverged", "stub.samples=40000", "stub.step-time=10ms", "epochs=1", "stub.nonfinite-at-step=20",
        "stub.fault-shards=[0]", "alerts.stop-on-nonfinite=true");
    JsonNode stopped = awaitState("diverged", "stopped");
    assertTrue(stopped.get("reason").asText().startsWith("alerts.stop-on-nonfinite: shard 0"), stopped.toString());
    assertEquals(1, stopped.get("counters").get("alerts").asInt(), stopped.toString());

    browser.open("/");
    browser.await("an alert badge on the run's row", Duration.ofSeconds(20), d ->
        d.findElements(By.cssSelector("tr[data-run=diverged] .badge.alert")).isEmpty() ? null : true);
    browser.open("/runs/diverged");
    WebElement alert = browser.awaitElement("#alert-box:not([hidden])");
    assertTrue(alert.getText().contains("shard 0"), alert.getText());
    browser.screenshot("run-alert");
  }

  @Test
  void anUnknownRunIdGivesAClearPage() throws Exception {
    browser.open("/runs/no-such-run");
    WebElement notFound = browser.awaitElement("#not-found");
    assertTrue(notFound.getText().contains("No run with id"), notFound.getText());
    assertTrue(notFound.getText().contains("no-such-run"), notFound.getText());
    browser.screenshot("run-unknown");
  }

  @Test
  void withoutATokenThePageAsksForOne() throws Exception {
    try (Browser stranger = new Browser(base)) {
      stranger.open("/");
      stranger.awaitElement("#login-form");
      assertTrue(stranger.all("#runs-table").isEmpty(), "no runs without a token");
      stranger.screenshot("login");
      stranger.find("#token").sendKeys("not-a-token-of-this-coordinator-0000000");
      stranger.find("#login-submit").click();
      stranger.awaitElement("#login-error:not([hidden])");
      stranger.find("#token").sendKeys(READ_TOKEN);
      stranger.find("#login-submit").click();
      stranger.awaitElement("#runs-table");
      assertTrue(stranger.find("#mode").getText().contains("read token"), stranger.find("#mode").getText());
    }
  }
}
