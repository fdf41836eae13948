package io.quarry.coordinator.http.dashboard;

import io.quarry.coordinator.http.ApiAuth;
import io.quarry.coordinator.http.ApiJson;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.DashboardSessions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import scala.concurrent.duration.FiniteDuration;

/**
 * {@code quarry dashboard}: the dashboard over a runs directory with no coordinator, read-only, behind tokens as the
 * coordinator's is (the command makes one and prints the login link). Errors are the API's JSON.
 */
public final class DashboardServer extends AllDirectives {
  private final Dashboard dashboard;

  private DashboardServer(Dashboard dashboard) {
    this.dashboard = dashboard;
  }

  /** Serves the run directories under {@code runsDir} on {@code host:port} (0: a free port) to holders of {@code tokens}. */
  public static CompletionStage<ServerBinding> bind(ActorSystem<?> system, Path runsDir, ApiTokens tokens, String host,
      int port) {
    var config = system.settings().config();
    ApiAuth auth = new ApiAuth(tokens, new DashboardSessions(tokens, config.getDuration("quarry.http.dashboard.session-ttl")));
    DashboardServer server = new DashboardServer(Dashboard.forRunsDir(system, runsDir, auth));
    return Http.get(system).newServerAt(host, port).bind(server.routes(config.getBytes("quarry.http.max-body-size"),
        config.getDuration("quarry.http.body-timeout").toMillis()));
  }

  Route routes(long maxBodyBytes, long bodyTimeoutMs) {
    return handleExceptions(ExceptionHandler.newBuilder()
            .matchAny(failure -> complete(ApiJson.error(StatusCodes.INTERNAL_SERVER_ERROR, "dashboard: " + failure)))
            .build(),
        () -> handleRejections(RejectionHandler.defaultHandler().mapRejectionResponse(DashboardServer::asJson),
            () -> toStrictEntity(FiniteDuration.create(bodyTimeoutMs, TimeUnit.MILLISECONDS), maxBodyBytes,
                () -> concat(pathPrefix("api", () -> concat(dashboard.runsDirApi(), dashboard.api())),
                    dashboard.pages()))));
  }

  private static HttpResponse asJson(HttpResponse response) {
    if (response.entity().getContentType().equals(ContentTypes.APPLICATION_JSON)) return response;
    String text = response.entity() instanceof HttpEntity.Strict strict
        ? strict.getData().decodeString(StandardCharsets.UTF_8) : response.status().reason();
    return ApiJson.error(response.status(), text.isBlank() ? response.status().reason() : text.strip())
        .withHeaders(response.getHeaders());
  }
}
