package io.quarry.worker;

import io.quarry.protocol.HostLoad;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Samples this host's load for the Cluster page: CPU use and physical memory from the JVM's operating-system bean,
 * and, where {@code nvidia-smi} is on the {@code PATH}, each GPU's utilisation and memory. One sampler per JVM,
 * shared by its workers, samples at most once per {@code minIntervalMs} (a JVM with eight workers runs nvidia-smi
 * once, not eight times). Blocking (it may start a process): call it off the actor's thread.
 */
final class HostSampler {
  private static final HostSampler SHARED = new HostSampler(2_000, findOnPath("nvidia-smi"));
  private static final long NVIDIA_SMI_TIMEOUT_MS = 3_000;

  private final long minIntervalMs;
  private final File nvidiaSmi;
  private final String host = hostName();
  private HostLoad last;

  HostSampler(long minIntervalMs, File nvidiaSmi) {
    this.minIntervalMs = minIntervalMs;
    this.nvidiaSmi = nvidiaSmi;
  }

  /** The JVM's sampler. */
  static HostSampler shared() {
    return SHARED;
  }

  /** The host's load now, or as sampled less than {@code minIntervalMs} ago. */
  synchronized HostLoad sample() {
    long now = System.currentTimeMillis();
    if (last != null && now - last.sampledUnixMs() < minIntervalMs) return last;
    double cpu = -1;
    long used = 0;
    long total = 0;
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      cpu = os.getCpuLoad();
      total = os.getTotalMemorySize();
      used = Math.max(0, total - os.getFreeMemorySize());
    }
    last = new HostLoad(host, Double.isNaN(cpu) ? -1 : cpu, used, total, gpus(), now);
    return last;
  }

  /** The GPUs {@code nvidia-smi} reports; none without it, or when it fails or hangs. */
  private List<HostLoad.Gpu> gpus() {
    if (nvidiaSmi == null) return List.of();
    try {
      Process process = new ProcessBuilder(nvidiaSmi.getPath(),
          "--query-gpu=index,name,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits")
          .redirectErrorStream(true).start();
      List<String> lines = new ArrayList<>();
      try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line = out.readLine(); line != null && lines.size() < 64; line = out.readLine()) lines.add(line);
      }
      if (!process.waitFor(NVIDIA_SMI_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        return List.of();
      }
      return process.exitValue() == 0 ? parse(lines) : List.of();
    } catch (IOException e) {
      return List.of();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return List.of();
    }
  }

  /** Lines of {@code index, name, utilization.gpu, memory.used, memory.total} (csv, no header, no units). */
  static List<HostLoad.Gpu> parse(List<String> lines) {
    List<HostLoad.Gpu> gpus = new ArrayList<>();
    for (String line : lines) {
      String[] cells = line.split(",");
      if (cells.length != 5) continue;
      try {
        gpus.add(new HostLoad.Gpu(Integer.parseInt(cells[0].strip()), cells[1].strip(), number(cells[2]),
            number(cells[3]), number(cells[4])));
      } catch (NumberFormatException e) {
        // A line that is not a GPU (a warning): skipped.
      }
    }
    return gpus;
  }

  /** A number of nvidia-smi's, "[N/A]" (a GPU that does not report it) as -1. */
  private static int number(String cell) {
    String value = cell.strip();
    return value.startsWith("[") ? -1 : (int) Math.round(Double.parseDouble(value));
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "localhost";
    }
  }

  private static File findOnPath(String program) {
    String path = System.getenv("PATH");
    if (path == null) return null;
    for (String dir : path.split(File.pathSeparator)) {
      File candidate = new File(dir, program);
      if (candidate.isFile() && candidate.canExecute()) return candidate;
    }
    return null;
  }
}
