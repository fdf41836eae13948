package io.quarry.coordinator.http.dashboard;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.util.RawValue;
import io.quarry.coordinator.http.ApiJson;
import io.quarry.protocol.RunStatus;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.sse.ServerSentEvent;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The pages' live updates as server-sent events, one stream per page. Each stream looks for news every
 * {@code live-interval} and sends, in one event, everything new since what it last sent: so a browser that reads
 * slowly gets fewer, larger events (the ticks it was not ready for are dropped: conflated), and never holds up a run,
 * whose files are read once for every stream that follows it ({@link RunFolder}). A run's events carry their
 * position as the event id ({@code rows.events.merges}), so a page that reconnects with {@code Last-Event-ID} goes
 * on where it stopped; one too far behind is told to reload its charts ({@code "reset": true}). {@code "rows"} is a list
 * of column chunks ({@link ScalarSeries#liveRows}), one per refresh of the run's files, each serialized once however many
 * streams send it.
 */
final class LiveStreams {
  /** Where a run's stream stands: scalar rows, events (but steps) and merges sent so far. */
  record Cursor(int rows, long events, int merges) {
    static final Cursor START = new Cursor(0, 0, 0);

    /** The cursor of an event id {@code rows.events.merges}; {@code fallback} when it is none. */
    static Cursor parse(String id, Cursor fallback) {
      if (id == null || id.isBlank()) return fallback;
      String[] parts = id.strip().split("\\.");
      if (parts.length != 3) return fallback;
      try {
        return new Cursor(Math.max(0, Integer.parseInt(parts[0])), Math.max(0, Long.parseLong(parts[1])),
            Math.max(0, Integer.parseInt(parts[2])));
      } catch (NumberFormatException e) {
        return fallback;
      }
    }

    String id() {
      return rows + "." + events + "." + merges;
    }
  }

  /** Events in one update at most; older ones are in the event log's own endpoint. */
  private static final int MAX_EVENTS_PER_UPDATE = 500;

  private final RunSource source;
  private final RunFolders folders;
  private final RunsView runs;
  private final Executor files;
  private final DashboardSettings settings;
  /** The last status rendered, per run: one answer of the coordinator serves every stream, rendered once. */
  private final ConcurrentHashMap<String, Rendered> statuses = new ConcurrentHashMap<>();

  /** A run's status as the coordinator answered it (compared by identity: answers are shared), and its JSON. */
  private record Rendered(RunStatus status, String text) {}

  LiveStreams(RunSource source, RunFolders folders, RunsView runs, Executor files, DashboardSettings settings) {
    this.source = source;
    this.folders = folders;
    this.runs = runs;
    this.files = files;
    this.settings = settings;
  }

  /** A run page's stream: new scalar rows, events, merges and status changes of run {@code runId} in {@code dir}. */
  Source<ServerSentEvent, NotUsed> run(String runId, Path dir, Cursor from) {
    RunFolder folder = folders.folder(dir, runId);
    RunFollower follower = new RunFollower(runId, folder, from);
    return ticks(settings.liveInterval()).mapAsync(1, tick -> follower.poll())
        .filter(Optional::isPresent).map(Optional::get)
        .keepAlive(settings.heartbeat(), ServerSentEvent::heartbeat);
  }

  /** The runs page's stream: the runs table whenever it changes ({@code event: runs}). */
  Source<ServerSentEvent, NotUsed> runs() {
    return changes("runs", settings.liveInterval(), () -> runs.runs());
  }

  /** The cluster page's stream: workers and queue whenever they change ({@code event: cluster}). */
  Source<ServerSentEvent, NotUsed> cluster() {
    return changes("cluster", settings.liveInterval().multipliedBy(2), () -> runs.cluster());
  }

  private Source<ServerSentEvent, NotUsed> changes(String type, Duration every,
      Supplier<CompletionStage<ObjectNode>> view) {
    String[] last = {null};
    return ticks(every).mapAsync(1, tick -> view.get().handle((json, failure) -> {
          if (failure != null) return Optional.<ServerSentEvent>empty();
          String data = write(json);
          if (data.equals(last[0])) return Optional.<ServerSentEvent>empty();
          last[0] = data;
          return Optional.of(ServerSentEvent.create(data, type));
        }))
        .filter(Optional::isPresent).map(Optional::get)
        .keepAlive(settings.heartbeat(), ServerSentEvent::heartbeat);
  }

  private static Source<String, NotUsed> ticks(Duration every) {
    return Source.tick(Duration.ZERO, every, "tick").mapMaterializedValue(cancellable -> NotUsed.getInstance());
  }

  /** One stream's position in one run; polled one tick at a time (never two at once). */
  private final class RunFollower {
    private final String runId;
    private final RunFolder folder;
    private Cursor cursor;
    private String lastStatus;

    RunFollower(String runId, RunFolder folder, Cursor from) {
      this.runId = runId;
      this.folder = folder;
      this.cursor = from;
    }

    CompletionStage<Optional<ServerSentEvent>> poll() {
      CompletableFuture<ObjectNode> news = CompletableFuture.supplyAsync(this::readNews, files);
      return news.thenCombine(source.run(runId).exceptionally(failure -> Optional.empty()), (update, status) -> {
        if (status.isPresent()) {
          String text = statusText(status.get());
          if (!text.equals(lastStatus)) {
            lastStatus = text;
            update.putRawValue("status", new RawValue(text));
          }
        }
        if (update.size() == 0) return Optional.<ServerSentEvent>empty();
        update.put("cursor", cursor.id());
        return Optional.of(ServerSentEvent.create(write(update), Optional.of("update"), Optional.of(cursor.id()),
            OptionalInt.empty()));
      });
    }

    private ObjectNode readNews() {
      try {
        return folder.read(System.nanoTime(), read -> {
          ObjectNode update = JsonNodeFactory.instance.objectNode();
          int rows = read.scalars().size();
          int sentRows = Math.min(cursor.rows(), rows);
          if (rows - sentRows > settings.maxLiveRows()) {
            update.put("reset", true);
            sentRows = rows;
          } else if (rows > sentRows) {
            // Streams that are caught up ask for the same refreshes' rows: those are serialized once for all of them.
            String chunks = read.rowChunksFrom(sentRows, settings.maxLiveRows());
            if (chunks != null) update.putRawValue("rows", new RawValue(chunks));
            else update.putArray("rows").add(ScalarSeries.liveRows(read.scalars(), sentRows, rows,
                RunFolder.LIVE_ROWS_PER_SERIES));
            sentRows = rows;
          }
          long events = read.eventCount();
          long sentEvents = Math.min(cursor.events(), events);
          if (events > sentEvents) {
            ArrayNode list = update.putArray("events");
            var fresh = read.eventsFrom(Math.max(sentEvents, events - MAX_EVENTS_PER_UPDATE));
            fresh.forEach(list::add);
            update.put("alerts", read.digest().alerts());
          }
          int merges = read.mergeCount();
          if (merges != cursor.merges()) update.put("merges", merges);
          cursor = new Cursor(sentRows, events, merges);
          return update;
        });
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** {@code status} as JSON, rendered once per answer of the coordinator, however many streams send it. */
  private String statusText(RunStatus status) {
    Rendered last = statuses.get(status.runId());
    if (last != null && last.status() == status) return last.text();
    String text = write(ApiJson.run(status));
    // Bounded: ended runs' entries are dropped all at once past this; a live run's comes back at its next answer.
    if (statuses.size() > 1000) statuses.clear();
    statuses.put(status.runId(), new Rendered(status, text));
    return text;
  }

  private static String write(ObjectNode node) {
    try {
      return ApiJson.MAPPER.writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot render JSON", e);
    }
  }
}
