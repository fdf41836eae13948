package io.quarry.coordinator.http.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.coordinator.http.ApiAuth;
import io.quarry.coordinator.http.ApiJson;
import io.quarry.coordinator.http.ApiTokens.Role;
import io.quarry.coordinator.http.DashboardSessions;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.protocol.CoordinatorCommand;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.http.javadsl.marshalling.sse.EventStreamMarshalling;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.HttpCookie;
import org.apache.pekko.http.javadsl.model.headers.Location;
import org.apache.pekko.http.javadsl.model.headers.SameSite;
import org.apache.pekko.http.javadsl.model.headers.SetCookie;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

/**
 * The dashboard: its pages at {@code /} (Runs, a run with its charts, shards, events, logs and config, its hard
 * examples, Compare, Cluster, New run) and the data they read under {@code /api} — a run's downsampled scalars, events,
 * config, process logs, hard examples and thumbnails, the pages' live streams, the run schema and its validation.
 * Everything is behind the API's tokens: a browser logs in once with a token ({@link DashboardSessions}); the pages
 * then call the API with their session cookie. It serves a coordinator ({@link #forCoordinator}: runs, workers,
 * submitting and stopping through the API) or, read-only, a runs directory alone ({@link #forRunsDir}, {@code quarry
 * dashboard}). Run directories are read on a dispatcher of their own ({@code quarry.http.dashboard.file-dispatcher}).
 */
public final class Dashboard extends AllDirectives {
  private static final Pattern PAYLOAD_FILE = Pattern.compile("[0-9]{1,20}\\.png");
  private static final Pattern LOG_FILE = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\\.log");
  private static final int DEFAULT_LOG_BYTES = 64 * 1024;
  private static final int MAX_LOG_BYTES = 1024 * 1024;

  private final RunSource source;
  private final ApiAuth auth;
  private final DashboardSettings settings;
  private final Executor files;
  private final RunFolders folders;
  private final RunsView runs;
  private final LiveStreams live;
  private final DashboardPages pages = new DashboardPages();
  private final String mode;
  private volatile SweepExpander sweeps = SweepExpander.NONE;

  private Dashboard(ActorSystem<?> system, Function<Dashboard.Parts, RunSource> sourceOf, ApiAuth auth, String mode) {
    this.settings = DashboardSettings.from(system.settings().config());
    this.auth = auth;
    this.mode = mode;
    this.files = system.dispatchers().lookup(DispatcherSelector.fromConfig(DashboardSettings.FILE_DISPATCHER));
    this.folders = new RunFolders(settings.runsInMemory(), settings.refreshInterval().toNanos());
    this.source = sourceOf.apply(new Parts(system, settings, folders, files));
    this.runs = new RunsView(source, folders, files, settings);
    this.live = new LiveStreams(source, folders, runs, files, settings);
  }

  /** What a run source is made from. */
  record Parts(ActorSystem<?> system, DashboardSettings settings, RunFolders folders, Executor files) {}

  /** The dashboard of {@code coordinator}'s runs and workers, for the callers {@code auth} admits. */
  public static Dashboard forCoordinator(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator, ApiAuth auth) {
    return new Dashboard(system, parts -> new CoordinatorRunSource(parts.system(), coordinator,
        parts.settings().askTimeout(), parts.settings().statusMaxAge().toMillis()), auth, "coordinator");
  }

  /** A read-only dashboard of the run directories in {@code runsDir}, with no coordinator. */
  public static Dashboard forRunsDir(ActorSystem<?> system, Path runsDir, ApiAuth auth) {
    return new Dashboard(system, parts -> new FolderRunSource(runsDir, parts.folders(), parts.files()), auth,
        "runs-dir");
  }

  /** Sweeps from the New run form are expanded by {@code expander} (the CLI's {@code --multirun} rules). */
  public Dashboard withSweeps(SweepExpander expander) {
    this.sweeps = expander;
    return this;
  }

  /** True when nothing can be submitted or stopped here. */
  public boolean readOnly() {
    return source.readOnly();
  }

  // --- pages ---

  /** The pages, the login and the assets: everything outside {@code /api}. */
  public Route pages() {
    return concat(
        pathPrefix("assets", () -> get(() -> respondWithHeader(HttpHeader.parse("Cache-Control", "no-cache"), () ->
            concat(pathPrefix("vendor", () -> getFromResourceDirectory(pages.uplotDirectory())),
                getFromResourceDirectory(DashboardPages.ASSETS))))),
        path("login", () -> concat(get(this::loginPage), post(this::login))),
        path("logout", () -> post(this::logout)),
        pathEndOrSingleSlash(() -> get(() -> page(() -> complete(pages.shell(StatusCodes.OK))))),
        path(PathMatchers.segment("runs").slash(PathMatchers.segment()), runId -> get(() -> page(() -> runPage(runId)))),
        path(PathMatchers.segment("runs").slash(PathMatchers.segment()).slash("hard-examples"),
            runId -> get(() -> page(() -> runPage(runId)))),
        path(PathMatchers.segment("compare"), () -> get(() -> page(() -> complete(pages.shell(StatusCodes.OK))))),
        path(PathMatchers.segment("cluster"), () -> get(() -> page(() -> complete(pages.shell(StatusCodes.OK))))),
        path(PathMatchers.segment("new"), () -> get(() -> page(() -> complete(pages.shell(StatusCodes.OK))))));
  }

  /** {@code page} for a logged-in browser; the login form (401) for anyone else. */
  private Route page(Supplier<Route> page) {
    return extractRequest(request -> auth.caller(request).isPresent()
        ? page.get() : complete(pages.login(StatusCodes.UNAUTHORIZED)));
  }

  /** A run's page: 404 (the page says there is no such run) for an unknown id. */
  private Route runPage(String runId) {
    if (!RunDirectory.RUN_ID.matcher(runId).matches()) return complete(pages.shell(StatusCodes.NOT_FOUND));
    CompletionStage<HttpResponse> response = source.run(runId).handle((run, failure) ->
        pages.shell(failure == null && run.isEmpty() ? StatusCodes.NOT_FOUND : StatusCodes.OK));
    return completeWithFuture(response);
  }

  /** The login form; {@code /login?token=T} (the link {@code quarry local --dashboard} prints) logs in at once. */
  private Route loginPage() {
    return parameterOptional("token", token -> extractRequest(request -> {
      if (token.isEmpty()) return complete(pages.login(StatusCodes.OK));
      return loggedIn(request, token.get(), "/");
    }));
  }

  private Route login() {
    return extractRequest(request -> {
      if (!DashboardSessions.sameOrigin(header(request, "Origin"), header(request, "Host"))) {
        return complete(ApiJson.error(StatusCodes.FORBIDDEN,
            "a login must come from this dashboard's own login form (the Origin header must be this host)"));
      }
      return formFieldOptional("token", token -> formFieldOptional("next", next ->
          loggedIn(request, token.orElse(""), safeNext(next.orElse("/")))));
    });
  }

  /** Opens a session for {@code token} and goes to {@code next}; back to the form, saying why, when it is unknown. */
  private Route loggedIn(HttpRequest request, String token, String next) {
    Optional<String> session = auth.sessions().open(token);
    if (session.isEmpty()) {
      return complete(HttpResponse.create().withStatus(StatusCodes.SEE_OTHER)
          .addHeader(Location.create("/login?failed=1&next=" + java.net.URLEncoder.encode(next, StandardCharsets.UTF_8))));
    }
    boolean https = "https".equals(request.getUri().scheme())
        || "https".equals(header(request, "X-Forwarded-Proto"));
    HttpCookie cookie = HttpCookie.create(DashboardSessions.COOKIE, session.get())
        .withHttpOnly(true).withSameSite(SameSite.Strict).withPath("/").withSecure(https)
        .withMaxAge(auth.sessions().ttlSeconds());
    return complete(HttpResponse.create().withStatus(StatusCodes.SEE_OTHER)
        .addHeader(Location.create(next)).addHeader(SetCookie.create(cookie)));
  }

  private Route logout() {
    return extractRequest(request -> {
      if (!DashboardSessions.sameOrigin(header(request, "Origin"), header(request, "Host"))) {
        return complete(ApiJson.error(StatusCodes.FORBIDDEN, "a logout must come from this dashboard's own pages"));
      }
      auth.sessions().close(ApiAuth.cookie(request));
      HttpCookie expired = HttpCookie.create(DashboardSessions.COOKIE, "").withHttpOnly(true)
          .withSameSite(SameSite.Strict).withPath("/").withMaxAge(0);
      return complete(HttpResponse.create().withStatus(StatusCodes.SEE_OTHER)
          .addHeader(Location.create("/login")).addHeader(SetCookie.create(expired)));
    });
  }

  /** Only a path of this site: never another host ({@code //evil}, {@code https://...}) after a login. */
  static String safeNext(String next) {
    if (next == null || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")
        || next.startsWith("/login") || next.chars().anyMatch(c -> c < 0x20)) {
      return "/";
    }
    return next;
  }

  // --- data ---

  /** The dashboard's data under {@code /api} (mounted inside the API's {@code /api} prefix). */
  public Route api() {
    return concat(
        pathPrefix("dash", () -> concat(
            path("info", () -> get(() -> read(this::info))),
            path("runs", () -> get(() -> read(() -> json(runs.runs())))),
            path("compare", () -> get(() -> read(() -> parameterOptional("runs", ids -> json(runs.compare(ids(ids))))))),
            path("cluster", () -> get(() -> read(() -> json(runs.cluster())))),
            path("schema", () -> get(() -> read(() -> json(CompletableFuture.supplyAsync(RunSchemaView::schema, files))))),
            path("validate", () -> post(() -> read(this::validate))))),
        pathPrefix("live", () -> concat(
            path("runs", () -> get(() -> read(() -> completeOK(live.runs(), EventStreamMarshalling.toEventStream())))),
            path("cluster", () -> get(() -> read(() ->
                completeOK(live.cluster(), EventStreamMarshalling.toEventStream())))))),
        pathPrefix("runs", () -> pathPrefix(PathMatchers.segment(), runId -> concat(
            path("scalars", () -> get(() -> read(() -> withRun(runId, dir -> scalars(runId, dir))))),
            path("events", () -> get(() -> read(() -> withRun(runId, dir -> events(runId, dir))))),
            path("config", () -> get(() -> read(() -> withRun(runId, dir -> config(runId, dir))))),
            path("logs", () -> get(() -> read(() -> withRun(runId, this::logs)))),
            path(PathMatchers.segment("logs").slash(PathMatchers.segment()),
                name -> get(() -> read(() -> withRun(runId, dir -> log(dir, name))))),
            path("hard-examples", () -> get(() -> read(() -> withRun(runId, dir -> hardExamples(runId, dir))))),
            path(PathMatchers.segment("hard-examples").slash("download"),
                () -> get(() -> read(() -> withRun(runId, dir -> download(runId, dir))))),
            path(PathMatchers.segment("hard-examples").slash("samples").slash(PathMatchers.longSegment()),
                sampleId -> get(() -> read(() -> withRun(runId, dir -> history(runId, dir, sampleId))))),
            path(PathMatchers.segment("payloads").slash(PathMatchers.segment()),
                file -> get(() -> read(() -> withRun(runId, dir -> payload(dir, file))))),
            path("live", () -> get(() -> read(() -> withRun(runId, dir -> live(runId, dir)))))))));
  }

  /**
   * For a dashboard with no coordinator: the API's run and worker endpoints answered from the run directories, and
   * every change refused (403: read-only).
   */
  public Route runsDirApi() {
    return concat(
        path("health", () -> get(() -> complete(ApiJson.response(StatusCodes.OK, object("status", "ok"))))),
        path("workers", () -> get(() -> read(() -> complete(ApiJson.response(StatusCodes.OK, ApiJson.workers(List.of())))))),
        pathPrefix("runs", () -> concat(
            pathEndOrSingleSlash(() -> concat(
                get(() -> read(() -> completeWithFuture(source.runs().thenApply(list ->
                    ApiJson.response(StatusCodes.OK, ApiJson.runs(list)))))),
                post(() -> complete(readOnlyRefusal())))),
            path(PathMatchers.segment(), runId -> get(() -> read(() -> completeWithFuture(source.run(runId)
                .thenApply(run -> run.map(status -> ApiJson.response(StatusCodes.OK, ApiJson.run(status)))
                    .orElseGet(() -> ApiJson.error(StatusCodes.NOT_FOUND, "no run with id '" + runId + "'"))))))),
            path(PathMatchers.segment().slash("stop"), runId -> post(() -> complete(readOnlyRefusal()))))));
  }

  private static HttpResponse readOnlyRefusal() {
    return ApiJson.error(StatusCodes.FORBIDDEN, "this dashboard serves run directories only (quarry dashboard): "
        + "there is no coordinator to submit a run to or stop one; use the coordinator's dashboard");
  }

  private Route read(Supplier<Route> route) {
    return auth.as(Role.READ, caller -> route.get());
  }

  private Route info() {
    return extractRequest(request -> {
      ObjectNode body = JsonNodeFactory.instance.objectNode();
      body.put("mode", mode);
      body.put("read_only", source.readOnly());
      body.put("role", auth.caller(request).map(caller -> caller.role().fileName()).orElse("read"));
      body.put("auth", auth.tokens().required());
      body.put("chart_points", settings.chartPoints());
      return complete(ApiJson.response(StatusCodes.OK, body));
    });
  }

  /** {@code route} with the run's directory; 404 when there is no such run. */
  private Route withRun(String runId, Function<Path, Route> route) {
    if (!RunDirectory.RUN_ID.matcher(runId).matches()) {
      return complete(ApiJson.error(StatusCodes.NOT_FOUND, "no run with id '" + runId + "'"));
    }
    return onSuccess(source.runDir(runId).exceptionally(failure -> Optional.empty()), dir -> dir.isPresent()
        ? route.apply(dir.get())
        : complete(ApiJson.error(StatusCodes.NOT_FOUND, "no run with id '" + runId + "'")));
  }

  private Route scalars(String runId, Path dir) {
    return parameterOptional("by", by -> parameterOptional("points", points -> {
      ScalarSeries.By grouping;
      int count;
      try {
        grouping = ScalarSeries.By.parse(by.orElse(null));
        count = points.map(Dashboard::parsePoints).orElse(settings.chartPoints());
      } catch (IllegalArgumentException e) {
        return complete(ApiJson.error(StatusCodes.BAD_REQUEST, e.getMessage()));
      }
      return onFolder(runId, dir, folder -> {
        ObjectNode out = ScalarSeries.series(folder.scalars(), grouping, count);
        out.put("cursor", new LiveStreams.Cursor(folder.scalars().size(), folder.eventCount(), folder.mergeCount()).id());
        return out;
      });
    }));
  }

  private static int parsePoints(String value) {
    try {
      int points = Integer.parseInt(value.strip());
      if (points >= 3 && points <= ScalarSeries.MAX_POINTS) return points;
    } catch (NumberFormatException e) {
      // Said below.
    }
    throw new IllegalArgumentException("parameter 'points': invalid value " + value + "; allowed: an integer from 3 to "
        + ScalarSeries.MAX_POINTS);
  }

  private Route events(String runId, Path dir) {
    return parameterOptional("limit", limit -> {
      int max = limit.map(value -> {
        try {
          return Math.max(1, Math.min(RunFolder.MAX_EVENTS, Integer.parseInt(value.strip())));
        } catch (NumberFormatException e) {
          return 500;
        }
      }).orElse(500);
      return onFolder(runId, dir, folder -> {
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        out.put("count", folder.eventCount());
        out.put("step_events", folder.stepEvents());
        ArrayNode list = out.putArray("events");
        folder.eventsFrom(Math.max(0, folder.eventCount() - max)).forEach(list::add);
        return out;
      });
    });
  }

  private Route config(String runId, Path dir) {
    return completeWithFuture(CompletableFuture.supplyAsync(() -> {
      try {
        String text = folders.folder(dir, runId).read(System.nanoTime(), RunFolder::config);
        if (text == null) return ApiJson.error(StatusCodes.NOT_FOUND, "run " + runId + " has no run.conf yet");
        return HttpResponse.create().withEntity(ContentTypes.TEXT_PLAIN_UTF8, text);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }, files).exceptionally(this::failed));
  }

  /** {@code {"logs": [{"name", "bytes"}]}}: a process trainer's stderr, one file per shard. */
  private Route logs(Path dir) {
    return json(CompletableFuture.supplyAsync(() -> {
      ObjectNode out = JsonNodeFactory.instance.objectNode();
      ArrayNode list = out.putArray("logs");
      Path logs = dir.resolve("logs");
      if (!Files.isDirectory(logs)) return out;
      try (Stream<Path> entries = Files.list(logs)) {
        List<Path> found = new ArrayList<>(entries.filter(p -> LOG_FILE.matcher(p.getFileName().toString()).matches()).toList());
        found.sort((a, b) -> naturalCompare(a.getFileName().toString(), b.getFileName().toString()));
        for (Path log : found) {
          ObjectNode entry = list.addObject();
          entry.put("name", log.getFileName().toString());
          entry.put("bytes", Files.size(log));
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return out;
    }, files));
  }

  /** The last {@code bytes} of one log, as text. */
  private Route log(Path dir, String name) {
    if (!LOG_FILE.matcher(name).matches()) {
      return complete(ApiJson.error(StatusCodes.NOT_FOUND, "no log '" + name + "'; logs are named <shard>.log"));
    }
    return parameterOptional("bytes", bytes -> completeWithFuture(CompletableFuture.supplyAsync(() -> {
      Path file = dir.resolve("logs").resolve(name);
      if (!Files.isRegularFile(file)) return ApiJson.error(StatusCodes.NOT_FOUND, "no log '" + name + "'");
      int want = bytes.map(value -> {
        try {
          return Math.max(1, Math.min(MAX_LOG_BYTES, Integer.parseInt(value.strip())));
        } catch (NumberFormatException e) {
          return DEFAULT_LOG_BYTES;
        }
      }).orElse(DEFAULT_LOG_BYTES);
      try {
        long size = Files.size(file);
        long from = Math.max(0, size - want);
        byte[] tail = LineTail.readAt(file, from, (int) (size - from));
        return HttpResponse.create().withEntity(ContentTypes.TEXT_PLAIN_UTF8, tail)
            .addHeader(HttpHeader.parse("X-Log-Bytes", Long.toString(size)));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }, files).exceptionally(this::failed)));
  }

  private Route hardExamples(String runId, Path dir) {
    return parameterOptional("merge", merge -> {
      int index;
      try {
        index = merge.map(value -> Integer.parseInt(value.strip())).orElse(-1);
      } catch (NumberFormatException e) {
        return complete(ApiJson.error(StatusCodes.BAD_REQUEST,
            "parameter 'merge': invalid value " + merge.get() + "; allowed: a merge index from 0"));
      }
      return onFolder(runId, dir, folder -> HardExamplesView.merge(folder, index));
    });
  }

  private Route history(String runId, Path dir, long sampleId) {
    return onFolder(runId, dir, folder -> HardExamplesView.history(folder, sampleId));
  }

  /** One merge's entries as JSON lines (with their payload's file or features); all merge records without {@code merge}. */
  private Route download(String runId, Path dir) {
    return parameterOptional("merge", merge -> {
      if (merge.isEmpty()) {
        return respondWithHeader(HttpHeader.parse("Content-Disposition",
                "attachment; filename=\"" + runId + "-hard_examples.jsonl\""),
            () -> getFromFile(dir.resolve("hard_examples.jsonl").toFile(), ContentTypes.APPLICATION_JSON));
      }
      return completeWithFuture(CompletableFuture.supplyAsync(() -> {
        int index;
        try {
          index = Integer.parseInt(merge.get().strip());
        } catch (NumberFormatException e) {
          return ApiJson.error(StatusCodes.BAD_REQUEST, "parameter 'merge': invalid value " + merge.get());
        }
        try {
          StringBuilder lines = new StringBuilder();
          ObjectNode found = folders.folder(dir, runId).read(System.nanoTime(), folder -> {
            ObjectNode record = folder.merge(index);
            if (record == null) return null;
            for (JsonNode node : record.path("entries")) {
              ObjectNode entry = ((ObjectNode) node).deepCopy();
              entry.put("merge", record.path("merge").asInt(index));
              HardExamplesView.withPayload(folder, entry);
              lines.append(ApiJson.MAPPER.writeValueAsString(entry)).append('\n');
            }
            return record;
          });
          if (found == null) return ApiJson.error(StatusCodes.NOT_FOUND, "run " + runId + " has no merge " + index);
          return HttpResponse.create()
              .withEntity(ContentTypes.create(MediaTypes.APPLICATION_JSON), lines.toString().getBytes(StandardCharsets.UTF_8))
              .addHeader(HttpHeader.parse("Content-Disposition",
                  "attachment; filename=\"" + runId + "-merge-" + index + ".jsonl\""));
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }, files).exceptionally(this::failed));
    });
  }

  private Route payload(Path dir, String file) {
    if (!PAYLOAD_FILE.matcher(file).matches()) {
      return complete(ApiJson.error(StatusCodes.NOT_FOUND, "no payload '" + file + "'; thumbnails are <sample_id>.png"));
    }
    Path png = dir.resolve("hard_examples").resolve(file);
    if (!Files.isRegularFile(png)) return complete(ApiJson.error(StatusCodes.NOT_FOUND, "no payload '" + file + "'"));
    return respondWithHeader(HttpHeader.parse("Cache-Control", "private, max-age=3600"),
        () -> getFromFile(png.toFile(), ContentTypes.create(MediaTypes.IMAGE_PNG)));
  }

  private Route live(String runId, Path dir) {
    return optionalHeaderValueByName("Last-Event-ID", lastEventId -> parameterOptional("from", from -> {
      LiveStreams.Cursor cursor = LiveStreams.Cursor.parse(lastEventId.orElse(null),
          LiveStreams.Cursor.parse(from.orElse(null), LiveStreams.Cursor.START));
      return completeOK(live.run(runId, dir, cursor), EventStreamMarshalling.toEventStream());
    }));
  }

  private Route validate() {
    return entity(Unmarshaller.entityToString(), body -> completeWithFuture(CompletableFuture.supplyAsync(() -> {
      JsonNode json;
      try {
        json = ApiJson.MAPPER.readTree(body.isBlank() ? "{}" : body);
      } catch (IOException e) {
        return ApiJson.error(StatusCodes.BAD_REQUEST, "the body is not JSON: " + e.getMessage());
      }
      if (!json.isObject()) return ApiJson.error(StatusCodes.BAD_REQUEST, "the body must be a JSON object");
      List<String> overrides = new ArrayList<>();
      json.path("overrides").forEach(node -> overrides.add(node.asText()));
      String config = json.path("config").isTextual() ? json.get("config").asText() : "";
      boolean sweep = json.path("sweep").asBoolean(false);
      return ApiJson.response(StatusCodes.OK, RunSchemaView.validate(config, overrides, sweep, sweeps));
    }, files).exceptionally(this::failed)));
  }

  // --- plumbing ---

  /** Reads the run's folder (on the file dispatcher) and answers with what {@code view} makes of it. */
  private Route onFolder(String runId, Path dir, RunFolder.Reader<ObjectNode> view) {
    return json(CompletableFuture.supplyAsync(() -> {
      try {
        return folders.folder(dir, runId).read(System.nanoTime(), view);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read run " + runId + " in " + dir, e);
      }
    }, files));
  }

  private Route json(CompletionStage<ObjectNode> body) {
    return completeWithFuture(body.thenApply(node -> ApiJson.response(StatusCodes.OK, node)).exceptionally(this::failed));
  }

  private HttpResponse failed(Throwable failure) {
    Throwable cause = failure;
    while (cause instanceof CompletionException && cause.getCause() != null) cause = cause.getCause();
    if (cause instanceof java.util.concurrent.TimeoutException) {
      return ApiJson.error(StatusCodes.SERVICE_UNAVAILABLE,
          "the coordinator did not answer within " + settings.askTimeout().toMillis() + " ms (quarry.http.ask-timeout)");
    }
    if (cause instanceof IllegalArgumentException) return ApiJson.error(StatusCodes.BAD_REQUEST, cause.getMessage());
    return ApiJson.error(StatusCodes.INTERNAL_SERVER_ERROR, "dashboard: " + cause);
  }

  private static List<String> ids(Optional<String> ids) {
    if (ids.isEmpty()) return List.of();
    return Arrays.stream(ids.get().split(",")).map(String::strip).filter(id -> !id.isEmpty()).distinct().limit(50).toList();
  }

  private static ObjectNode object(String field, String value) {
    ObjectNode node = JsonNodeFactory.instance.objectNode();
    node.put(field, value);
    return node;
  }

  private static String header(HttpRequest request, String name) {
    return request.getHeader(name).map(HttpHeader::value).orElse(null);
  }

  private static int naturalCompare(String a, String b) {
    String digitsA = a.replaceAll("\\D", "");
    String digitsB = b.replaceAll("\\D", "");
    if (!digitsA.isEmpty() && !digitsB.isEmpty() && digitsA.length() < 10 && digitsB.length() < 10) {
      int byNumber = Long.compare(Long.parseLong(digitsA), Long.parseLong(digitsB));
      if (byNumber != 0) return byNumber;
    }
    return a.compareTo(b);
  }
}
