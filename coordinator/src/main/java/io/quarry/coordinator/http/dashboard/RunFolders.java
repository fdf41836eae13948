package io.quarry.coordinator.http.dashboard;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@link RunFolder}s the dashboard reads, one per run directory, shared by every page and stream that follows the
 * run; the least recently used is forgotten past {@code capacity} (its memory goes, and a later reader reads the run
 * again from the top).
 */
final class RunFolders {
  private final int capacity;
  private final long minRefreshNs;
  private final Map<Path, RunFolder> folders;

  RunFolders(int capacity, long minRefreshNs) {
    this.capacity = capacity;
    this.minRefreshNs = minRefreshNs;
    this.folders = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<Path, RunFolder> eldest) {
        return size() > RunFolders.this.capacity;
      }
    };
  }

  /** The folder of run {@code runId} in {@code dir}. */
  synchronized RunFolder folder(Path dir, String runId) {
    Path key = dir.toAbsolutePath().normalize();
    return folders.computeIfAbsent(key, path -> new RunFolder(path, runId, minRefreshNs));
  }
}
