package io.quarry.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.Worker;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code quarry worker}: a cluster node with the {@code worker} role and one worker actor per device. */
@Command(
    name = "worker",
    mixinStandardHelpOptions = true,
    description = {
      "Starts a worker node: joins the cluster (--seed-nodes, or --discovery kubernetes-api) and runs one worker per "
          + "device.",
      "It runs until stopped (SIGTERM leaves the cluster gracefully); with --run NAME it serves that run only and exits "
          + "when it ends: 0 when it completed, 1 when it failed or was stopped."
    })
final class WorkerNodeCommand implements Callable<Integer> {
  static final String ROLE = "worker";
  private static final Pattern DEVICE = Pattern.compile("cpu|gpu:\\d+");

  @Mixin NodeOptions node;

  @Option(names = "--devices", paramLabel = "DEVICE,...", split = ",", defaultValue = "cpu",
      description = "one worker per device: cpu (repeat for several CPU workers) or gpu:N; default ${DEFAULT-VALUE}")
  List<String> devices;

  @Option(names = "--allow-program", paramLabel = "PATH",
      description = "a program runs of trainer = process may start here: its absolute path, or a directory whose programs "
          + "all may (repeatable; env QUARRY_ALLOW_PROGRAMS, comma-separated). Allowing an interpreter (python3) "
          + "allows any script it is given. Default: none, so the process trainer is off")
  List<String> allowPrograms = new ArrayList<>();

  @Option(names = "--data-root", paramLabel = "DIR",
      description = "a directory runs may read data under (dataset.path), absolute (repeatable; env QUARRY_DATA_ROOTS, "
          + "comma-separated). Default: none, so only data made by the trainer (synthetic) is read")
  List<String> dataRoots = new ArrayList<>();

  @Mixin DedicatedRun.Flags run;

  @Override
  public Integer call() {
    Map<String, String> env = System.getenv();
    List<String> seeds;
    boolean kubernetes;
    DedicatedRun.Options dedicated;
    ActorSystem<Void> system;
    String allowed;
    try {
      for (String device : devices) {
        if (!DEVICE.matcher(device).matches()) {
          throw new IllegalArgumentException("--devices: '" + device + "' is not a device; allowed: cpu, gpu:N");
        }
      }
      seeds = node.seedNodes(env);
      kubernetes = node.kubernetesDiscovery(env);
      if (seeds.isEmpty() && !kubernetes) {
        throw new IllegalArgumentException("a worker needs --seed-nodes (or QUARRY_SEED_NODES): the coordinator's "
            + "host:port; on Kubernetes --discovery kubernetes-api");
      }
      List<String> programs = absolutePaths("--allow-program", allowPrograms, env.get("QUARRY_ALLOW_PROGRAMS"));
      List<String> roots = absolutePaths("--data-root", dataRoots, env.get("QUARRY_DATA_ROOTS"));
      dedicated = run.dedicatedRun(env);
      Config settings = ConfigFactory.empty()
          .withValue("quarry.worker.allow-programs", ConfigValueFactory.fromIterable(programs))
          .withValue("quarry.worker.data-roots", ConfigValueFactory.fromIterable(roots))
          .withValue("quarry.worker.only-run", ConfigValueFactory.fromAnyRef(dedicated == null ? "" : dedicated.runId()));
      if (dedicated != null) settings = settings.withFallback(DedicatedRun.SHUTDOWN_PHASE);
      Config config = node.clusterConfig(env, 0, ROLE, false, settings);
      // The lease its NodeWatch renews: only a worker node has one (a worker without NodeWatch would never write).
      system = ActorSystem.create(Behaviors.empty(), ClusterConfig.SYSTEM_NAME,
          config.withValue("quarry.worker.write-lease", config.getValue("quarry.worker-node.write-lease")));
      allowed = "programs " + programs + ", data roots " + roots
          + (dedicated == null ? "" : ", run " + dedicated.runId() + " only");
    } catch (IllegalArgumentException e) {
      System.err.println("quarry worker: " + e.getMessage());
      return QuarryCli.EXIT_USAGE;
    }
    Address self = Cluster.get(system).selfMember().address();
    String nodeId = self.host().get() + ":" + self.port().get();
    List<String> ids = new ArrayList<>();
    List<ActorRef<WorkerCommand>> workers = new ArrayList<>();
    for (int i = 0; i < devices.size(); i++) {
      String device = devices.get(i);
      String workerId = nodeId + "/" + (device.equals("cpu") ? "cpu-" + i : device.replace(':', '-'));
      workers.add(system.systemActorOf(Worker.create(workerId, device), "worker-" + i, Props.empty()));
      ids.add(workerId);
    }
    NodeWatch.start(system, workers);
    if (kubernetes) {
      try {
        KubernetesBootstrap.start(system);
      } catch (IllegalStateException e) {
        System.err.println("quarry worker: " + e.getMessage());
        system.terminate();
        return QuarryCli.EXIT_FAILED;
      }
    }
    System.out.println("quarry worker node up at " + nodeId + " (" + node.transport(env) + "), workers " + ids
        + (kubernetes ? ", finding the cluster through the Kubernetes API" : ", joining " + seeds)
        + "; allows " + allowed);
    if (dedicated != null) return DedicatedRun.serve(system, dedicated, ids);
    system.getWhenTerminated().toCompletableFuture().join();
    return QuarryCli.EXIT_COMPLETED;
  }

  /** The flag's paths, else the environment's comma-separated ones; each must be absolute. */
  private static List<String> absolutePaths(String option, List<String> given, String fromEnv) {
    List<String> paths = !given.isEmpty() || fromEnv == null || fromEnv.isBlank()
        ? given : List.of(fromEnv.trim().split("\\s*,\\s*"));
    for (String path : paths) {
      if (!path.startsWith("/")) {
        throw new IllegalArgumentException(option + ": '" + path + "' is not an absolute path; allowed: an absolute "
            + "path, e.g. " + (option.equals("--allow-program") ? "$(command -v python3)" : "/data/datasets"));
      }
    }
    return paths.stream().map(path -> java.nio.file.Path.of(path).normalize().toString()).toList();
  }
}
