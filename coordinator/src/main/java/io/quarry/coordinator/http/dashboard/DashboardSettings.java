package io.quarry.coordinator.http.dashboard;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * The dashboard's settings, {@code quarry.http.dashboard} (read once).
 *
 * @param sessionTtl how long a login lasts
 * @param liveInterval how often a page's live stream looks for news
 * @param refreshInterval a run's files are read at most this often, however many pages follow it
 * @param statusMaxAge an answer of the coordinator about runs and workers serves every page for this long
 * @param runsInMemory run directories kept read in memory (the least recently used is dropped past it)
 * @param chartPoints points per chart series sent to a page (downsampled on the server)
 * @param maxLiveRows a stream behind by more rows than this tells its page to reload its charts
 * @param heartbeat a quiet stream sends a comment this often, so proxies keep it open
 * @param askTimeout how long a page waits for the coordinator (quarry.http.ask-timeout)
 * @param maxConcurrentRuns quarry.coordinator.max-concurrent-runs, to say why a run waits
 */
record DashboardSettings(
    Duration sessionTtl,
    Duration liveInterval,
    Duration refreshInterval,
    Duration statusMaxAge,
    int runsInMemory,
    int chartPoints,
    int maxLiveRows,
    Duration heartbeat,
    Duration askTimeout,
    int maxConcurrentRuns) {
  static final String FILE_DISPATCHER = "quarry.http.dashboard.file-dispatcher";

  static DashboardSettings from(Config config) {
    Config dashboard = config.getConfig("quarry.http.dashboard");
    return new DashboardSettings(
        dashboard.getDuration("session-ttl"),
        dashboard.getDuration("live-interval"),
        dashboard.getDuration("refresh-interval"),
        dashboard.getDuration("status-max-age"),
        dashboard.getInt("runs-in-memory"),
        dashboard.getInt("chart-points"),
        dashboard.getInt("max-live-rows"),
        dashboard.getDuration("heartbeat"),
        config.getDuration("quarry.http.ask-timeout"),
        config.hasPath("quarry.coordinator.max-concurrent-runs") ? config.getInt("quarry.coordinator.max-concurrent-runs") : 0);
  }
}
