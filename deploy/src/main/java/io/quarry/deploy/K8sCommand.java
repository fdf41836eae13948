package io.quarry.deploy;

import io.quarry.config.RunConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code quarry k8s}: Quarry on Kubernetes (the cluster itself is {@code kubectl apply -k k8s/overlays/...}). */
@Command(name = "k8s", mixinStandardHelpOptions = true, description = "Quarry on Kubernetes.",
    subcommands = {K8sCommand.Job.class})
final class K8sCommand implements Runnable {
  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: job");
  }

  @Command(name = "job", mixinStandardHelpOptions = true,
      description = {"Prints the manifests of one run as a Kubernetes Job, for `| kubectl apply -f -`: a ConfigMap with "
          + "the resolved run config and an Indexed Job of --nodes worker pods that join the cluster of k8s/, serve "
          + "only this run (the first submits it) and exit when it ends.",
          "The Job completes when the run completed; it fails, with the run's reason as the pods' termination "
              + "message, when the run failed or was stopped; `kubectl delete job NAME` stops the run; `kubectl logs "
              + "-f job/NAME` shows its progress. The run starts only once all --nodes x --gpus-per-node workers are "
              + "there (min-workers)."})
  static final class Job implements Callable<Integer> {
    private static final java.util.regex.Pattern NAME = java.util.regex.Pattern.compile("[a-z0-9]([-a-z0-9]{0,46}[a-z0-9])?");

    @Parameters(index = "0", paramLabel = "RUN.conf", description = "the run file (HOCON; `include` works)")
    Path runFile;

    @Parameters(index = "1..*", paramLabel = "KEY=VALUE", description = "overrides of the run file, e.g. epochs=3")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--name", required = true, paramLabel = "NAME",
        description = "the Job's and the run's name: lower-case letters, digits and '-', at most 48 characters")
    String name;

    @Option(names = "--nodes", required = true, paramLabel = "N", description = "worker pods (one per node)")
    int nodes;

    @Option(names = "--gpus-per-node", paramLabel = "G", defaultValue = "0",
        description = "GPUs per pod (nvidia.com/gpu), one worker each; 0 (default): one CPU worker per pod")
    int gpusPerNode;

    @Option(names = "--image", paramLabel = "IMAGE", defaultValue = "${env:QUARRY_IMAGE:-quarry:0.1.0}",
        description = "the pods' image, the one the cluster of k8s/ runs (env QUARRY_IMAGE, default ${DEFAULT-VALUE})")
    String image;

    @Option(names = "--namespace", paramLabel = "NS", description = "the namespace (default: kubectl's current one)")
    String namespace;

    @Option(names = "--instance", paramLabel = "NAME", defaultValue = "quarry",
        description = "the Quarry installation: its ServiceAccount, <NAME>-config ConfigMap and <NAME>-runs volume "
            + "(default ${DEFAULT-VALUE}, as in k8s/base)")
    String instance;

    @Option(names = "--cpu", paramLabel = "CPU", description = "CPU request per pod (default 1, or 8 per GPU)")
    String cpu;

    @Option(names = "--memory", paramLabel = "BYTES", description = "memory per pod (default 2Gi, or 32Gi per GPU)")
    String memory;

    @Option(names = "--node-selector", paramLabel = "KEY=VALUE",
        description = "schedule the pods on nodes with this label (repeatable; default for GPUs: "
            + "nvidia.com/gpu.present=true, as NVIDIA's GPU feature discovery labels them; none: no selector)")
    List<String> nodeSelector = new ArrayList<>();

    @Override
    public Integer call() {
      return ClientCommands.guarded("k8s job", () -> {
        if (!NAME.matcher(name).matches()) {
          throw new IllegalArgumentException("--name: '" + name + "' is not a Job name; allowed: lower-case letters, "
              + "digits and '-', starting and ending with a letter or digit, at most 48 characters");
        }
        if (nodes < 1 || nodes > 10_000) {
          throw new IllegalArgumentException("--nodes: " + nodes + " is out of range; allowed: 1-10000");
        }
        if (gpusPerNode < 0 || gpusPerNode > 64) {
          throw new IllegalArgumentException("--gpus-per-node: " + gpusPerNode + " is out of range; allowed: 0-64");
        }
        int workers = nodes * Math.max(1, gpusPerNode);
        // One shard per worker, and a gang of all of them: the Job's pods start the run together or not at all.
        List<String> all = new ArrayList<>(List.of("shards=" + workers, "min-workers=" + workers));
        all.addAll(overrides);
        RunConfig config = RunArgs.resolve(ClientCommands.resolvedRunFile(runFile), all, Map.of());
        JobManifests.Spec spec = new JobManifests.Spec(name, namespace, instance, image, versionOf(image), nodes,
            gpusPerNode, cpu != null ? cpu : gpusPerNode > 0 ? String.valueOf(8 * gpusPerNode) : "1",
            memory != null ? memory : gpusPerNode > 0 ? (32 * gpusPerNode) + "Gi" : "2Gi", selector(),
            config.toHocon());
        System.out.print(JobManifests.yaml(spec));
        return QuarryCli.EXIT_COMPLETED;
      });
    }

    private Map<String, String> selector() {
      Map<String, String> labels = new LinkedHashMap<>();
      if (nodeSelector.equals(List.of("none"))) return labels;
      if (nodeSelector.isEmpty() && gpusPerNode > 0) labels.put("nvidia.com/gpu.present", "true");
      for (String pair : nodeSelector) {
        int eq = pair.indexOf('=');
        if (eq <= 0) {
          throw new IllegalArgumentException("--node-selector: '" + pair + "' is not KEY=VALUE (e.g. "
              + "cloud.google.com/gke-accelerator=nvidia-h100-80gb), or none");
        }
        labels.put(pair.substring(0, eq), pair.substring(eq + 1));
      }
      return labels;
    }

    /** The image's tag (its version, Pekko's app-version), or "latest" without one. */
    static String versionOf(String image) {
      int slash = image.lastIndexOf('/');
      int colon = image.lastIndexOf(':');
      int at = image.indexOf('@');
      if (at >= 0) return "digest";
      return colon > slash ? image.substring(colon + 1) : "latest";
    }
  }
}
