package io.quarry.protocol;

import java.util.List;

/**
 * What a worker's operator allows the runs it trains: the programs a run may start ({@code trainer = process}) and
 * the directories it may read data under. A worker reports it when it asks for work, so the coordinator refuses at
 * submission a run whose program no worker allows; the worker checks every run again, exactly (with its own
 * {@code PATH}, symbolic links resolved), before it trains, and refuses the shard with the reason otherwise.
 *
 * @param anyProgram every program is allowed: local mode, where the user starts what they run
 * @param programs absolute paths of allowed programs, or of directories whose programs are all allowed
 * @param dataRoots absolute paths of directories under which a run may read its data
 * @param onlyRun the one run this worker serves ({@code quarry worker --run NAME}: a Kubernetes Job's pods), or empty
 *     for any run; the coordinator offers such a worker to that run only
 */
public record WorkerAllowance(boolean anyProgram, List<String> programs, List<String> dataRoots, String onlyRun)
    implements QuarryMessage {
  /** Nothing allowed: no program, no data root (a cluster worker's default). */
  public static final WorkerAllowance NOTHING = new WorkerAllowance(false, List.of(), List.of());

  public WorkerAllowance {
    programs = List.copyOf(programs);
    dataRoots = List.copyOf(dataRoots);
    onlyRun = onlyRun == null ? "" : onlyRun;
  }

  /** An allowance for any run. */
  public WorkerAllowance(boolean anyProgram, List<String> programs, List<String> dataRoots) {
    this(anyProgram, programs, dataRoots, "");
  }

  /** Whether this worker may train shards of run {@code runId}: any run, or the one it is dedicated to. */
  public boolean serves(String runId) {
    return onlyRun.isEmpty() || onlyRun.equals(runId);
  }

  /**
   * Whether this worker may allow {@code program} as a run config names it: an allowed path itself, a path under an
   * allowed directory, or a bare name (looked up on the worker's {@code PATH}) that an allowed program bears. The
   * coordinator's first filter; the worker decides with the name resolved.
   */
  public boolean mayAllow(String program) {
    if (anyProgram) return true;
    if (program.startsWith("/")) program = java.nio.file.Path.of(program).normalize().toString(); // no "/allowed/../x"
    for (String allowed : programs) {
      String directory = allowed.endsWith("/") ? allowed : allowed + "/";
      if (program.equals(allowed) || program.startsWith(directory)) return true;
      if (!program.contains("/") && allowed.substring(allowed.lastIndexOf('/') + 1).equals(program)) return true;
    }
    return false;
  }
}
