package io.quarry.worker;

import io.quarry.config.RunConfig;
import io.quarry.config.TrainerSpec;
import io.quarry.protocol.WorkerAllowance;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The worker's own, exact check of a run against what its operator allows ({@link WorkerAllowance}): every program
 * the run's trainer starts must be an allowed program or lie under an allowed directory once its name is looked up
 * on this worker's {@code PATH} and its symbolic links are resolved, and every data path it reads must lie under a data
 * root, likewise resolved. Pure: the file system is only read.
 */
public final class RunPermissions {
  private final WorkerAllowance allowance;
  private final String searchPath;
  private final Path workingDir;

  /**
   * @param searchPath the {@code PATH} programs are looked up on (the worker's own)
   * @param workingDir what relative paths are resolved against (the worker's working directory)
   */
  public RunPermissions(WorkerAllowance allowance, String searchPath, Path workingDir) {
    this.allowance = allowance;
    this.searchPath = searchPath == null ? "" : searchPath;
    this.workingDir = workingDir.toAbsolutePath();
  }

  public WorkerAllowance allowance() {
    return allowance;
  }

  /** Why this worker will not train {@code config}, or empty when it may. */
  public Optional<String> refusal(RunConfig config) {
    TrainerSpec spec = config.trainerSpec();
    for (String program : spec.programs(config)) {
      Optional<String> refused = programRefusal(program, config);
      if (refused.isPresent()) return refused;
    }
    for (TrainerSpec.DataPath data : spec.dataPaths(config)) {
      Optional<String> refused = dataRefusal(data);
      if (refused.isPresent()) return refused;
    }
    return Optional.empty();
  }

  private Optional<String> programRefusal(String program, RunConfig config) {
    if (allowance.anyProgram()) return Optional.empty();
    String howToAllow = "; allowed: " + (allowance.programs().isEmpty() ? "no program (this worker's list is empty)"
        : String.join(", ", allowance.programs())) + ". A worker's operator allows one with quarry worker "
        + "--allow-program /absolute/path (a program, or a directory of programs; repeatable)";
    if (program.contains("{")) {
      return Optional.of("program '" + program + "' (process.command's first word) has a placeholder; a worker runs "
          + "only a program it can check before it starts" + howToAllow);
    }
    Optional<Path> resolved = resolve(program, config);
    if (resolved.isEmpty()) {
      return Optional.of("program '" + program + "' (process.command) is not found on this worker's PATH" + howToAllow);
    }
    for (String allowed : allowance.programs()) {
      Optional<Path> entry = real(Path.of(allowed));
      if (entry.isPresent() && (resolved.get().equals(entry.get()) || Files.isDirectory(entry.get())
          && resolved.get().startsWith(entry.get()))) {
        return Optional.empty();
      }
    }
    return Optional.of("program '" + program + "' (" + resolved.get() + ", from process.command) is not allowed on "
        + "this worker" + howToAllow);
  }

  private Optional<String> dataRefusal(TrainerSpec.DataPath data) {
    Path path = workingDir.resolve(data.path()).normalize();
    Path real = real(path).orElse(path); // a path that does not exist is refused later, by what reads it
    for (String root : allowance.dataRoots()) {
      Optional<Path> rootReal = real(Path.of(root));
      if (rootReal.isPresent() && real.startsWith(rootReal.get())) return Optional.empty();
    }
    return Optional.of("config key '" + data.key() + "': " + data.path() + " is outside this worker's data roots; "
        + "allowed: a path under " + (allowance.dataRoots().isEmpty() ? "a data root (this worker has none)"
            : String.join(", ", allowance.dataRoots())) + ". A worker's operator adds one with quarry worker --data-root DIR");
  }

  /** The program as the process trainer would start it: a path (against process.workdir) or a name on PATH. */
  private Optional<Path> resolve(String program, RunConfig config) {
    if (program.contains("/")) {
      String workdir = config.raw().hasPath("process.workdir") ? config.raw().getString("process.workdir") : "";
      Path base = workdir.isBlank() ? workingDir : workingDir.resolve(workdir);
      return real(base.resolve(program)).filter(Files::isExecutable);
    }
    List<String> dirs = new ArrayList<>(List.of(searchPath.split(File.pathSeparator)));
    for (String dir : dirs) {
      if (dir.isEmpty()) continue;
      Path candidate = Path.of(dir).resolve(program);
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) return real(candidate);
    }
    return Optional.empty();
  }

  private static Optional<Path> real(Path path) {
    try {
      return Optional.of(path.toRealPath());
    } catch (IOException e) {
      return Optional.empty();
    }
  }
}
