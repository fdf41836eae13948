package io.quarry.coordinator.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.protocol.CoordinatorCommand.ResumeReply;
import io.quarry.protocol.CoordinatorCommand.ResumeRun;
import io.quarry.protocol.CoordinatorCommand;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.Location;

/**
 * {@code POST /api/runs/{id}/resume}: {@code {"overrides": ["epochs=5"]}} (optional, the keys a resumed run may
 * change). {@code 202} when the run resumes, {@code 400} for an override that is not allowed, {@code 404} for an
 * unknown run, {@code 409} for a run that completed or is still going.
 */
final class ResumeRequest {
  static final List<String> FIELDS = List.of("overrides");

  private ResumeRequest() {}

  /** Asks the coordinator to resume {@code runId} with the body's overrides; the answer as the API gives it. */
  static CompletionStage<HttpResponse> ask(String runId, byte[] body, ActorRef<CoordinatorCommand> coordinator,
      Duration timeout, ActorSystem<?> system) {
    List<String> overrides = JsonBody.parse(body, FIELDS).strings("overrides", "[\"epochs=5\"]");
    CompletionStage<ResumeReply> reply = AskPattern.ask(coordinator,
        replyTo -> new ResumeRun(runId, overrides == null ? List.of() : overrides, replyTo), timeout, system.scheduler());
    return reply.thenApply(ResumeRequest::answered);
  }

  private static HttpResponse answered(ResumeReply reply) {
    ObjectNode body = ApiJson.object();
    body.put("run_id", reply.runId());
    return switch (reply.outcome()) {
      case RESUMED -> {
        body.put("run_dir", reply.runDir());
        body.put("message", reply.message());
        yield ApiJson.response(StatusCodes.ACCEPTED, body).addHeader(Location.create("/api/runs/" + reply.runId()));
      }
      case UNKNOWN -> ApiJson.error(StatusCodes.NOT_FOUND, reply.message());
      case NOT_RESUMABLE -> {
        body.put("error", reply.message());
        yield ApiJson.response(StatusCodes.CONFLICT, body);
      }
      case INVALID -> ApiJson.error(StatusCodes.BAD_REQUEST, reply.message());
    };
  }
}
