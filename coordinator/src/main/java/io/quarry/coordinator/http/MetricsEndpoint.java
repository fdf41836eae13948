package io.quarry.coordinator.http;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.quarry.coordinator.metrics.ClusterMetrics;
import io.quarry.protocol.CoordinatorCommand.GetWorkers;
import io.quarry.protocol.CoordinatorCommand.ListRuns;
import io.quarry.protocol.CoordinatorCommand.RunsReply;
import io.quarry.protocol.CoordinatorCommand.WorkersReply;
import io.quarry.protocol.CoordinatorCommand;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;

/**
 * {@code GET /metrics}: the cluster in Prometheus' text format. The cluster's metrics ({@link ClusterMetrics}) come
 * from the coordinator singleton, asked like any API request, so every coordinator node answers for the whole
 * cluster; the JVM's own metrics (memory, GC, threads, ...) are those of the node that answers. Each endpoint has a
 * registry of its own (several coordinators may share a JVM, in tests), holding the JVM metrics.
 */
final class MetricsEndpoint {
  private static final ContentType CONTENT_TYPE = ContentTypes.parse(PrometheusTextFormatWriter.CONTENT_TYPE);

  private final ActorSystem<?> system;
  private final ActorRef<CoordinatorCommand> coordinator;
  private final Duration askTimeout;
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

  MetricsEndpoint(ActorSystem<?> system, ActorRef<CoordinatorCommand> coordinator, Duration askTimeout) {
    this.system = system;
    this.coordinator = coordinator;
    this.askTimeout = askTimeout;
    JvmMetrics.builder().register(registry);
  }

  /** The scrape's answer: the cluster's metrics and this JVM's, once the coordinator has answered. */
  CompletionStage<HttpResponse> scrape() {
    CompletionStage<RunsReply> runs = AskPattern.ask(coordinator, ListRuns::new, askTimeout, system.scheduler());
    CompletionStage<WorkersReply> workers = AskPattern.ask(coordinator, GetWorkers::new, askTimeout, system.scheduler());
    return runs.thenCombine(workers, (known, registered) -> HttpResponse.create().withStatus(StatusCodes.OK)
        .withEntity(HttpEntities.create(CONTENT_TYPE, text(ClusterMetrics.snapshots(known.runs(), registered.workers())))));
  }

  /** {@code cluster} and the JVM's metrics in the text format. */
  byte[] text(List<MetricSnapshot> cluster) {
    MetricSnapshots.Builder all = MetricSnapshots.builder();
    cluster.forEach(all::metricSnapshot);
    registry.scrape().forEach(all::metricSnapshot);
    ByteArrayOutputStream out = new ByteArrayOutputStream(64 * 1024);
    try {
      writer.write(out, all.build());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the metrics", e);
    }
    return out.toByteArray();
  }
}
