package io.quarry.protocol;

import java.util.List;

/**
 * How busy a worker's host is, as the worker last sampled it (every {@code quarry.worker.host-report-interval}): what
 * the dashboard's Cluster page shows per host.
 *
 * @param host the host's name
 * @param cpuLoad the whole host's CPU use, 0..1; negative when unknown
 * @param memoryUsedBytes physical memory in use on the host
 * @param memoryTotalBytes physical memory of the host; 0 when unknown
 * @param gpus the host's GPUs as {@code nvidia-smi} reports them; empty where there is none (or no nvidia-smi)
 * @param sampledUnixMs when it was sampled
 */
public record HostLoad(String host, double cpuLoad, long memoryUsedBytes, long memoryTotalBytes, List<Gpu> gpus,
    long sampledUnixMs) implements QuarryMessage {
  public HostLoad {
    gpus = List.copyOf(gpus);
  }

  /**
   * One GPU of the host.
   *
   * @param index its index as nvidia-smi numbers it
   * @param utilizationPct its utilisation over the last sample period, percent
   */
  public record Gpu(int index, String name, int utilizationPct, long memoryUsedMib, long memoryTotalMib)
      implements QuarryMessage {}
}
