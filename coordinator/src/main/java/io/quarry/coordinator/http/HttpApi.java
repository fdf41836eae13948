package io.quarry.coordinator.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import io.quarry.coordinator.http.ApiTokens.Role;
import io.quarry.coordinator.http.dashboard.Dashboard;
import io.quarry.coordinator.http.dashboard.SweepExpander;
import io.quarry.protocol.CoordinatorCommand.GetRun;
import io.quarry.protocol.CoordinatorCommand.GetWorkers;
import io.quarry.protocol.CoordinatorCommand.ListRuns;
import io.quarry.protocol.CoordinatorCommand.RunStatusReply;
import io.quarry.protocol.CoordinatorCommand.RunsReply;
import io.quarry.protocol.CoordinatorCommand.StopReply;
import io.quarry.protocol.CoordinatorCommand.StopRun;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.CoordinatorCommand.SubmitRun;
import io.quarry.protocol.CoordinatorCommand.WorkersReply;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunStatus;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.HttpsConnectionContext;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpMethod;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.Allow;
import org.apache.pekko.http.javadsl.model.headers.Location;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import scala.concurrent.duration.FiniteDuration;

/**
 * The coordinator's HTTP API: JSON under {@code /api}. Every request but {@code GET /api/health} needs
 * {@code Authorization: Bearer <token>} ({@link ApiTokens}): 401 without a known token, 403 for a {@code read} token
 * that submits or stops. Every request is answered from the coordinator by an ask (timeout
 * {@code quarry.http.ask-timeout}); a run submission is validated here first, so a bad request never reaches the
 * coordinator and changes nothing. A caller submits at most {@code quarry.http.submissions-per-minute} runs a minute
 * (429 past it). Every error, the routing's own included (404, 405, 413), is {@code {"error": "..."}}.
 *
 * <pre>
 * POST /api/runs              operate  {"config": "HOCON", "overrides": ["k=v"], "run_id": "id"}  201 | 400 | 409 | 413 | 429
 * GET  /api/runs              read     200 {"runs": [...]}
 * GET  /api/runs/{id}         read     200 the run | 404
 * POST /api/runs/{id}/stop    operate  {"reason": "..."}  202 | 404 | 409
 * POST /api/runs/{id}/resume  operate  {"overrides": ["epochs=5"]}  202 | 400 | 404 | 409 ({@link ResumeRequest})
 * GET  /api/workers           read     200 {"workers": [...]}
 * GET  /api/health            anyone   200 {"status": "ok"}; with a token also "workers": N, "active_runs": M
 * GET  /metrics               read     200 the cluster in Prometheus' text format ({@link MetricsEndpoint})
 * </pre>
 *
 * <p>The dashboard ({@link Dashboard}) is served beside it: its pages at {@code /}, its data under {@code /api}; a
 * browser's session cookie counts as its token ({@link ApiAuth}).
 */
public final class HttpApi extends AllDirectives {
  private static final List<String> STOP_FIELDS = List.of("reason");
  private static final String DEFAULT_STOP_REASON = "stopped over the HTTP API";
  private static final String ENDPOINTS =
      "POST/GET /api/runs, GET /api/runs/{id}, POST /api/runs/{id}/stop, POST /api/runs/{id}/resume, GET /api/workers, GET /api/health, GET /metrics";

  private final ActorSystem<?> system;
  private final ActorRef<CoordinatorCommand> coordinator;
  private final Duration askTimeout;
  private final Duration submitTimeout;
  private final long maxBodyBytes;
  private final Duration bodyTimeout;
  private final ApiTokens tokens;
  private final SubmissionLimiter submissions;
  private final ApiAuth auth;
  private final Dashboard dashboard;
  private final MetricsEndpoint metrics;

  /**
   * The API of {@code coordinator}, for the holders of {@code tokens}, with the settings under {@code quarry.http} of
   * {@code system}'s config.
   */
  public HttpApi(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator, ApiTokens tokens) {
    this(system, coordinator, tokens, SweepExpander.NONE);
  }

  /** As {@link #HttpApi(ActorSystem, ActorRef, ApiTokens)}, with the dashboard's sweeps expanded by {@code sweeps}. */
  public HttpApi(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator, ApiTokens tokens,
      SweepExpander sweeps) {
    Config http = system.settings().config().getConfig("quarry.http");
    this.system = system;
    this.coordinator = coordinator;
    this.tokens = tokens;
    this.submissions = new SubmissionLimiter(http.getInt("submissions-per-minute"));
    this.askTimeout = http.getDuration("ask-timeout");
    this.submitTimeout = http.getDuration("submit-timeout");
    this.maxBodyBytes = http.getBytes("max-body-size");
    this.bodyTimeout = http.getDuration("body-timeout");
    this.auth = new ApiAuth(tokens, new DashboardSessions(tokens, http.getDuration("dashboard.session-ttl")));
    this.dashboard = Dashboard.forCoordinator(system, coordinator, auth).withSweeps(sweeps);
    this.metrics = new MetricsEndpoint(system, coordinator, askTimeout);
  }

  /**
   * Serves the API of {@code coordinator} to the holders of {@code tokens} on {@code host:port} (port 0: any free
   * port; see the binding), over HTTPS when {@code https} is given.
   */
  public static CompletionStage<ServerBinding> bind(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator,
      ApiTokens tokens, String host, int port, java.util.Optional<HttpsConnectionContext> https) {
    return bind(system, coordinator, tokens, host, port, https, SweepExpander.NONE);
  }

  /** As above, with sweeps from the dashboard's New run form expanded by {@code sweeps} (the CLI's rules). */
  public static CompletionStage<ServerBinding> bind(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator,
      ApiTokens tokens, String host, int port, java.util.Optional<HttpsConnectionContext> https, SweepExpander sweeps) {
    var server = Http.get(system).newServerAt(host, port);
    if (https.isPresent()) server = server.enableHttps(https.get());
    return server.bind(new HttpApi(system, coordinator, tokens, sweeps).routes());
  }

  /** Serves the API over plain HTTP (tests, and a coordinator reached only through a TLS-terminating proxy). */
  public static CompletionStage<ServerBinding> bind(
      ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator, ApiTokens tokens, String host, int port) {
    return bind(system, coordinator, tokens, host, port, java.util.Optional.empty());
  }

  /**
   * Every endpoint, with JSON errors for what matches none. The request body is read in full (up to
   * {@code max-body-size}) before any route answers, so that an early answer (401, 404, 405) never leaves a client
   * writing into a connection the server has closed: it gets its answer, not a reset.
   */
  public Route routes() {
    return handleExceptions(exceptionHandler(), () -> handleRejections(rejectionHandler(), () ->
        toStrictEntity(FiniteDuration.create(bodyTimeout.toMillis(), TimeUnit.MILLISECONDS), maxBodyBytes, () -> concat(
        path("metrics", () -> get(() -> as(Role.READ, caller -> respond(metrics.scrape())))),
        pathPrefix("api", () -> concat(
            path("health", () -> get(this::health)),
            path("workers", () -> get(() -> as(Role.READ, caller -> workers()))),
            pathPrefix("runs", () -> concat(
                pathEndOrSingleSlash(() -> concat(
                    get(() -> as(Role.READ, caller -> listRuns())),
                    post(() -> as(Role.OPERATE, this::submit)))),
                path(PathMatchers.segment(), runId -> get(() -> as(Role.READ, caller -> getRun(runId)))),
                path(PathMatchers.segment().slash("stop"),
                    runId -> post(() -> as(Role.OPERATE, caller -> stop(runId)))),
                path(PathMatchers.segment().slash("resume"),
                    runId -> post(() -> as(Role.OPERATE, caller -> withBody(body ->
                        ResumeRequest.ask(runId, body, coordinator, submitTimeout, system))))))),
            dashboard.api())),
        dashboard.pages()))));
  }

  // --- who may ---

  /**
   * {@code route} for a caller whose token has {@code required} (or more); 401 without a known token (the same answer
   * for none, a malformed header and a wrong token), 403 for a token of a lesser role.
   */
  private Route as(Role required, Function<ApiTokens.Caller, Route> route) {
    return auth.as(required, route);
  }

  // --- endpoints ---

  private Route submit(ApiTokens.Caller caller) {
    return withBody(body -> {
      RunSpec spec = SubmitRequest.parse(body).toSpec();
      java.util.OptionalLong wait = submissions.tryAcquire(caller.id(), System.currentTimeMillis());
      if (wait.isPresent()) {
        long seconds = Math.max(1, (wait.getAsLong() + 999) / 1000);
        throw new ApiError(StatusCodes.TOO_MANY_REQUESTS, "more than " + submissions.perMinute()
            + " run submissions in a minute from this token (quarry.http.submissions-per-minute); try again in "
            + seconds + " s");
      }
      CompletionStage<SubmitReply> reply = AskPattern.ask(
          coordinator, replyTo -> new SubmitRun(spec, replyTo), submitTimeout, system.scheduler());
      return reply.thenApply(HttpApi::submitted);
    });
  }

  private static HttpResponse submitted(SubmitReply reply) {
    if (reply instanceof SubmitReply.Accepted accepted) {
      ObjectNode body = ApiJson.object();
      body.put("run_id", accepted.runId());
      body.put("run_dir", accepted.runDir());
      return ApiJson.response(StatusCodes.CREATED, body).addHeader(Location.create("/api/runs/" + accepted.runId()));
    }
    SubmitReply.Rejected rejected = (SubmitReply.Rejected) reply;
    return ApiJson.error(switch (rejected.why()) {
      case TAKEN -> StatusCodes.CONFLICT;
      case FULL -> StatusCodes.TOO_MANY_REQUESTS;
      case INVALID -> StatusCodes.BAD_REQUEST;
    }, rejected.error());
  }

  private Route listRuns() {
    CompletionStage<RunsReply> reply = AskPattern.ask(coordinator, ListRuns::new, askTimeout, system.scheduler());
    return respond(reply.thenApply(runs -> ApiJson.response(StatusCodes.OK, ApiJson.runs(runs.runs()))));
  }

  private Route getRun(String runId) {
    return respond(runStatus(runId).thenApply(run -> ApiJson.response(StatusCodes.OK, ApiJson.run(run))));
  }

  /** The run's status, or an {@link ApiError} 404. */
  private CompletionStage<RunStatus> runStatus(String runId) {
    CompletionStage<RunStatusReply> reply =
        AskPattern.ask(coordinator, replyTo -> new GetRun(runId, replyTo), askTimeout, system.scheduler());
    return reply.thenApply(answer -> {
      if (answer.status() == null) throw new ApiError(StatusCodes.NOT_FOUND, "no run with id '" + runId + "'");
      return answer.status();
    });
  }

  private Route stop(String runId) {
    return withBody(body -> {
      String given = JsonBody.parse(body, STOP_FIELDS).string("reason");
      String reason = given == null || given.isBlank() ? DEFAULT_STOP_REASON : given;
      return runStatus(runId).thenCompose(run -> {
        if (run.state().isFinal()) {
          return CompletableFuture.completedFuture(
              stopRefused(runId, "run " + runId + " is already " + run.state().wireName()));
        }
        CompletionStage<StopReply> reply = AskPattern.ask(
            coordinator, replyTo -> new StopRun(runId, reason, replyTo), askTimeout, system.scheduler());
        return reply.thenApply(HttpApi::stopAnswered);
      });
    });
  }

  private static HttpResponse stopAnswered(StopReply reply) {
    if (!reply.accepted()) return stopRefused(reply.runId(), reply.message());
    ObjectNode body = ApiJson.object();
    body.put("run_id", reply.runId());
    body.put("accepted", true);
    body.put("message", reply.message());
    return ApiJson.response(StatusCodes.ACCEPTED, body);
  }

  /** The run exists but cannot be stopped (it has ended): 409. */
  private static HttpResponse stopRefused(String runId, String message) {
    ObjectNode body = ApiJson.object();
    body.put("error", message);
    body.put("run_id", runId);
    body.put("accepted", false);
    return ApiJson.response(StatusCodes.CONFLICT, body);
  }

  private Route workers() {
    return respond(askWorkers().thenApply(reply -> ApiJson.response(StatusCodes.OK, ApiJson.workers(reply.workers()))));
  }

  /** Anyone learns that the coordinator is up; a token holder also how many workers and active runs it has. */
  private Route health() {
    return extractRequest(request -> {
      if (auth.caller(request).isPresent()) return healthInDetail();
      ObjectNode body = ApiJson.object();
      body.put("status", "ok");
      return complete(ApiJson.response(StatusCodes.OK, body));
    });
  }

  private Route healthInDetail() {
    CompletionStage<RunsReply> runs = AskPattern.ask(coordinator, ListRuns::new, askTimeout, system.scheduler());
    return respond(askWorkers().thenCombine(runs, (workers, known) -> {
      ObjectNode body = ApiJson.object();
      body.put("status", "ok");
      body.put("workers", workers.ready());
      body.put("active_runs", known.runs().stream().filter(run -> !run.state().isFinal()).count());
      return ApiJson.response(StatusCodes.OK, body);
    }));
  }

  private CompletionStage<WorkersReply> askWorkers() {
    return AskPattern.ask(coordinator, GetWorkers::new, askTimeout, system.scheduler());
  }

  // --- plumbing ---

  /**
   * Reads the whole request body (at most {@code quarry.http.max-body-size}, else 413) and answers with what
   * {@code handler} makes of it. An {@link ApiError} thrown by the handler becomes its response.
   */
  private Route withBody(Function<byte[], CompletionStage<HttpResponse>> handler) {
    return extractRequestEntity(entity -> extractMaterializer(materializer -> {
      CompletionStage<byte[]> bytes = entity.withSizeLimit(maxBodyBytes)
          .toStrict(bodyTimeout.toMillis(), materializer)
          .handle((strict, failure) -> {
            if (failure != null) throw bodyUnreadable(unwrap(failure));
            return strict.getData().toArray();
          });
      return respond(bytes.thenCompose(handler));
    }));
  }

  private ApiError bodyUnreadable(Throwable failure) {
    if (failure instanceof EntityStreamSizeException) {
      return new ApiError(StatusCodes.CONTENT_TOO_LARGE,
          "request body larger than " + maxBodyBytes + " bytes (quarry.http.max-body-size)");
    }
    if (failure instanceof TimeoutException) {
      return new ApiError(StatusCodes.REQUEST_TIMEOUT, "request body did not arrive within " + bodyTimeout.toMillis() + " ms");
    }
    return new ApiError(StatusCodes.BAD_REQUEST, "cannot read the request body: " + failure.getMessage());
  }

  /** Completes with {@code response}, turning a failure into its JSON error. */
  private Route respond(CompletionStage<HttpResponse> response) {
    return completeWithFuture(response.exceptionally(this::failed));
  }

  private HttpResponse failed(Throwable failure) {
    Throwable cause = unwrap(failure);
    if (cause instanceof ApiError error) return ApiJson.error(error.status(), error.getMessage());
    if (cause instanceof org.apache.pekko.http.scaladsl.model.IllegalRequestException illegal) {
      // What toStrictEntity throws for a body over the limit ("Request too large", as a 400 or a 413 depending on
      // where the limit struck) or otherwise unreadable.
      if (illegal.status().intValue() == StatusCodes.CONTENT_TOO_LARGE.intValue()
          || illegal.info().summary().startsWith("Request too large")) {
        return ApiJson.error(StatusCodes.CONTENT_TOO_LARGE,
            "request body larger than " + maxBodyBytes + " bytes (quarry.http.max-body-size)");
      }
      return ApiJson.error(StatusCodes.get(illegal.status().intValue()), illegal.info().summary());
    }
    if (cause instanceof EntityStreamSizeException
        || cause instanceof TimeoutException && String.valueOf(cause.getMessage()).contains("toStrict")) {
      ApiError error = bodyUnreadable(cause);
      return ApiJson.error(error.status(), error.getMessage());
    }
    if (cause instanceof TimeoutException) {
      return ApiJson.error(StatusCodes.SERVICE_UNAVAILABLE,
          "the coordinator did not answer within " + askTimeout.toMillis() + " ms (quarry.http.ask-timeout)");
    }
    system.log().error("HTTP request failed", cause);
    return ApiJson.error(StatusCodes.INTERNAL_SERVER_ERROR, "internal error: " + cause);
  }

  private static Throwable unwrap(Throwable failure) {
    Throwable cause = failure;
    while ((cause instanceof CompletionException || cause instanceof ExecutionException) && cause.getCause() != null) {
      cause = cause.getCause();
    }
    return cause;
  }

  private ExceptionHandler exceptionHandler() {
    return ExceptionHandler.newBuilder()
        .matchAny(failure -> complete(failed(failure)))
        .build();
  }

  /** Routing rejections as JSON: 405 with the allowed methods, 404 naming the endpoints, the rest as Pekko says. */
  private RejectionHandler rejectionHandler() {
    return RejectionHandler.newBuilder()
        .handleAll(MethodRejection.class, rejections -> extractRequest(request -> {
          HttpMethod[] allowed = rejections.stream().map(MethodRejection::supported).distinct().toArray(HttpMethod[]::new);
          List<String> names = rejections.stream().map(r -> r.supported().name()).distinct().sorted().toList();
          return complete(ApiJson.error(StatusCodes.METHOD_NOT_ALLOWED,
                  "method " + request.method().name() + " is not allowed on " + request.getUri().path()
                      + "; allowed: " + String.join(", ", names))
              .addHeader(Allow.create(allowed)));
        }))
        .handleNotFound(extractRequest(request -> complete(ApiJson.error(StatusCodes.NOT_FOUND, notFound(request)))))
        .build()
        .withFallback(RejectionHandler.defaultHandler())
        .mapRejectionResponse(HttpApi::asJsonError);
  }

  private static String notFound(HttpRequest request) {
    return "no endpoint " + request.method().name() + " " + request.getUri().path() + "; the endpoints are: " + ENDPOINTS;
  }

  /** Pekko's own rejection responses are plain text: the same text as {@code {"error": ...}}. */
  private static HttpResponse asJsonError(HttpResponse response) {
    if (response.entity().getContentType().equals(ContentTypes.APPLICATION_JSON)) return response;
    String text = response.entity() instanceof HttpEntity.Strict strict
        ? strict.getData().decodeString(StandardCharsets.UTF_8)
        : response.status().reason();
    return ApiJson.error(response.status(), text.isBlank() ? response.status().reason() : text.strip())
        .withHeaders(response.getHeaders());
  }
}
