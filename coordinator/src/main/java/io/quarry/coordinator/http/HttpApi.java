package io.quarry.coordinator.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import io.quarry.protocol.CoordinatorCommand;
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
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunStatus;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntity;
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

/**
 * The coordinator's HTTP API: JSON under {@code /api}. Every request is answered from the coordinator by an ask
 * (timeout {@code quarry.http.ask-timeout}); a run submission is validated here first, so a bad request never
 * reaches the coordinator and changes nothing. Every error, the routing's own included (404, 405, 413), is
 * {@code {"error": "..."}}.
 *
 * <pre>
 * POST /api/runs              {"config": "HOCON", "overrides": ["k=v"], "run_id": "id"}  201 | 400 | 409 | 413
 * GET  /api/runs              200 {"runs": [...]}
 * GET  /api/runs/{id}         200 the run | 404
 * POST /api/runs/{id}/stop    {"reason": "..."}  202 | 404 | 409
 * GET  /api/workers           200 {"workers": [...]}
 * GET  /api/health            200 {"status": "ok", "workers": N, "active_runs": M}
 * </pre>
 */
public final class HttpApi extends AllDirectives {
  private static final List<String> STOP_FIELDS = List.of("reason");
  private static final String DEFAULT_STOP_REASON = "stopped over the HTTP API";
  private static final String ENDPOINTS =
      "POST/GET /api/runs, GET /api/runs/{id}, POST /api/runs/{id}/stop, GET /api/workers, GET /api/health";

  private final ActorSystem<?> system;
  private final ActorRef<CoordinatorCommand> coordinator;
  private final Duration askTimeout;
  private final Duration submitTimeout;
  private final long maxBodyBytes;
  private final Duration bodyTimeout;

  /** The API of {@code coordinator}, with the settings under {@code quarry.http} of {@code system}'s config. */
  public HttpApi(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator) {
    Config http = system.settings().config().getConfig("quarry.http");
    this.system = system;
    this.coordinator = coordinator;
    this.askTimeout = http.getDuration("ask-timeout");
    this.submitTimeout = http.getDuration("submit-timeout");
    this.maxBodyBytes = http.getBytes("max-body-size");
    this.bodyTimeout = http.getDuration("body-timeout");
  }

  /** Serves the API of {@code coordinator} on {@code host:port} (port 0: any free port; see the binding). */
  public static CompletionStage<ServerBinding> bind(
      ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator, String host, int port) {
    return Http.get(system).newServerAt(host, port).bind(new HttpApi(system, coordinator).routes());
  }

  /** Serves the API on {@code quarry.http.host} and {@code quarry.http.port}. */
  public static CompletionStage<ServerBinding> bind(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator) {
    Config http = system.settings().config().getConfig("quarry.http");
    return bind(system, coordinator, http.getString("host"), http.getInt("port"));
  }

  /** Every endpoint, with JSON errors for what matches none. */
  public Route routes() {
    return handleExceptions(exceptionHandler(), () -> handleRejections(rejectionHandler(), () ->
        pathPrefix("api", () -> concat(
            path("health", () -> get(this::health)),
            path("workers", () -> get(this::workers)),
            pathPrefix("runs", () -> concat(
                pathEndOrSingleSlash(() -> concat(get(this::listRuns), post(this::submit))),
                path(PathMatchers.segment(), runId -> get(() -> getRun(runId))),
                path(PathMatchers.segment().slash("stop"), runId -> post(() -> stop(runId)))))))));
  }

  // --- endpoints ---

  private Route submit() {
    return withBody(body -> {
      RunSpec spec = SubmitRequest.parse(body).toSpec();
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
    String error = ((SubmitReply.Rejected) reply).error();
    return ApiJson.error(isConflict(error) ? StatusCodes.CONFLICT : StatusCodes.BAD_REQUEST, error);
  }

  /**
   * The coordinator's rejection says "exists already" (a run it knows) or "already exists" (a run directory left
   * by an earlier coordinator); both are a taken run id. Every other rejection is about the request.
   */
  static boolean isConflict(String error) {
    return error.contains("exists already") || error.contains("already exists");
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

  private Route health() {
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
