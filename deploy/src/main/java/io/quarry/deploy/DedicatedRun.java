package io.quarry.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.coordinator.Coordinator;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunUpdate;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.SingletonActor;
import picocli.CommandLine.Option;

/**
 * {@code quarry worker --run NAME}: a worker node that serves one run and lives as long as it does, the way a
 * Kubernetes Job's pod does. Its workers are offered to that run only. The node with {@code --node-index 0} submits
 * the run from {@code --run-file} once its own workers are known to the coordinator; every node then follows the run
 * (a progress line every few seconds on standard output, for {@code kubectl logs}) and exits when it ends: 0 when it
 * COMPLETED, 1 when it FAILED or was STOPPED, with one line saying how it ended in the termination-message file
 * (what {@code kubectl describe} shows). SIGTERM ({@code kubectl delete job}) stops the run before the node leaves.
 */
final class DedicatedRun {
  private static final Duration POLL = Duration.ofSeconds(1);
  private static final Duration ASK = Duration.ofSeconds(5);
  /** Kubernetes keeps at most 4096 bytes of a termination message. */
  private static final int MESSAGE_BYTES = 4000;

  /**
   * The shutdown phase, first of all, in which a terminated node stops its run and waits for it to end, before the
   * node fences its workers and leaves the cluster. Its timeout must stay below the pods' grace period (60 s).
   */
  static final String STOP_PHASE = "quarry-stop-run";
  static final Config SHUTDOWN_PHASE = ConfigFactory.parseString(
      "pekko.coordinated-shutdown.phases {\n"
          + "  " + STOP_PHASE + " { timeout = 40s, recover = on }\n"
          + "  before-service-unbind.depends-on = [" + STOP_PHASE + "]\n"
          + "}\n");

  private DedicatedRun() {}

  /** The flags of {@code quarry worker} for a node that serves one run. */
  static final class Flags {
    @Option(names = "--run", paramLabel = "NAME",
        description = "serve this run only, and exit when it ends (0 completed, 1 failed or stopped): the pods of "
            + "`quarry k8s job`")
    String runId;

    @Option(names = "--run-file", paramLabel = "RUN.conf",
        description = "with --run: the run's config, which the node with --node-index 0 submits as run NAME")
    Path runFile;

    @Option(names = "--node-index", paramLabel = "N",
        description = "with --run: this node's index among the run's nodes (env QUARRY_NODE_INDEX, default 0; a Job's "
            + "completion index)")
    Integer nodeIndex;

    @Option(names = "--termination-message", paramLabel = "FILE",
        description = "with --run: where to write how the run ended (env QUARRY_TERMINATION_MESSAGE; Kubernetes: "
            + "/dev/termination-log)")
    Path terminationMessage;

    @Option(names = "--await-run", paramLabel = "DURATION", defaultValue = "30m",
        description = "with --run: how long to wait for the run to be submitted and for this node's workers to be "
            + "known (default ${DEFAULT-VALUE}; e.g. 90s, 10m)")
    String awaitRun;

    /** The options of a node that serves one run, or null when {@code --run} was not given. */
    Options dedicatedRun(Map<String, String> env) {
      if (runId == null) {
        if (runFile != null) throw new IllegalArgumentException("--run-file needs --run NAME: the run it is");
        return null;
      }
      if (runId.isBlank() || !runId.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,127}")) {
        throw new IllegalArgumentException("--run: '" + runId + "' is not a run id; allowed: letters, digits, '.', "
            + "'_' and '-', starting with a letter or digit, at most 128 characters");
      }
      if (runFile != null && !Files.isRegularFile(runFile)) {
        throw new IllegalArgumentException("--run-file: " + runFile + " does not exist");
      }
      int index = nodeIndex != null ? nodeIndex : parseIndex(env.get("QUARRY_NODE_INDEX"));
      Path message = terminationMessage != null ? terminationMessage
          : env.get("QUARRY_TERMINATION_MESSAGE") == null ? null : Path.of(env.get("QUARRY_TERMINATION_MESSAGE"));
      return new Options(runId, runFile, index, env.getOrDefault("QUARRY_JOB_UID", ""), message, duration(awaitRun));
    }

    private static int parseIndex(String value) {
      if (value == null || value.isBlank()) return 0;
      try {
        int index = Integer.parseInt(value.trim());
        if (index < 0) throw new NumberFormatException();
        return index;
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("QUARRY_NODE_INDEX: '" + value + "' is not a node index (0, 1, 2, ...)");
      }
    }

    private static Duration duration(String text) {
      try {
        Duration parsed = ConfigFactory.parseString("d = " + text).getDuration("d");
        if (parsed.isNegative() || parsed.isZero()) throw new IllegalArgumentException();
        return parsed;
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("--await-run: '" + text + "' is not a duration; allowed: e.g. 90s, 10m, 1h");
      }
    }
  }

  /**
   * @param runId the run this node serves
   * @param runFile the run's config, submitted by node 0; null: this node never submits
   * @param nodeIndex this node's index among the run's nodes
   * @param jobUid the Kubernetes Job's uid (empty outside a Job): the run's name carries it, so a node tells its own
   *     run from an earlier one of the same name
   * @param terminationMessage where to write how the run ended; null: nowhere
   * @param awaitRun how long to wait for the run to be submitted
   */
  record Options(String runId, Path runFile, int nodeIndex, String jobUid, Path terminationMessage, Duration awaitRun) {
    /** What the run's {@code name} ends with when this Job submitted it. */
    String jobMark() {
      return jobUid.isEmpty() ? "" : "[k8s job " + jobUid + "]";
    }
  }

  /** Serves the run until it ends, then leaves the cluster; returns the node's exit code. */
  static int serve(ActorSystem<?> system, Options options, List<String> workerIds) {
    DedicatedRun.Node node = new Node(system, options);
    int code = node.run(workerIds);
    system.terminate();
    try {
      system.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
    } catch (Exception e) {
      System.err.println("quarry worker: the node did not stop within 60 s: " + e);
    }
    return code;
  }

  /** One serving node: its client of the coordinator, and how its run ended. */
  private static final class Node {
    private final ActorSystem<?> system;
    private final Options options;
    private final RunClient client;
    private final AtomicReference<RunStatus> ended = new AtomicReference<>();
    private volatile boolean terminating;

    Node(ActorSystem<?> system, Options options) {
      this.system = system;
      this.options = options;
      // On a node without the coordinator role, init starts only a proxy to the singleton: the behaviour never runs.
      ActorRef<CoordinatorCommand> coordinator = ClusterSingleton.get(system).init(
          SingletonActor.of(Behaviors.<CoordinatorCommand>empty(), Coordinator.SINGLETON_NAME)
              .withSettings(ClusterSingletonSettings.create(system).withRole(Coordinator.ROLE)));
      this.client = new RunClient(system, coordinator);
      CoordinatedShutdown.get(system).addTask(STOP_PHASE, "quarry-stop-dedicated-run", () -> {
        stopOnTermination();
        return CompletableFuture.completedFuture(Done.getInstance());
      });
    }

    int run(List<String> workerIds) {
      long deadline = System.nanoTime() + options.awaitRun().toNanos();
      String id = options.runId();
      try {
        if (options.nodeIndex() == 0 && options.runFile() != null) {
          awaitOwnWorkers(workerIds, deadline);
          Integer refused = submit();
          if (refused != null) return refused;
        } else {
          System.out.println("quarry worker: waiting for run " + id + " (node 0 of the run submits it)");
        }
        RunStatus status = awaitRun(deadline);
        if (status == null) {
          return finish(QuarryCli.EXIT_FAILED, "run " + id + " was not submitted within " + options.awaitRun()
              + " (node 0 submits it: see its log, e.g. kubectl logs " + id + "-0-...)");
        }
        return follow(status);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return QuarryCli.EXIT_FAILED;
      }
    }

    /** Waits until the coordinator knows this node's workers, so the run's admission counts them. */
    private void awaitOwnWorkers(List<String> workerIds, long deadline) throws InterruptedException {
      while (System.nanoTime() < deadline && !terminating) {
        CoordinatorCommand.WorkersReply reply = ask(client.workers().toCompletableFuture());
        if (reply != null) {
          Set<String> known = new java.util.HashSet<>();
          for (CoordinatorCommand.WorkerInfo worker : reply.workers()) {
            if (worker.workerId() != null && worker.state() != io.quarry.protocol.WorkerState.LOST) {
              known.add(worker.workerId());
            }
          }
          if (known.containsAll(workerIds)) return;
        }
        Thread.sleep(POLL.toMillis());
      }
    }

    /** Submits the run; returns null when it is (or already was) this Job's, else the exit code of a refusal. */
    private Integer submit() throws InterruptedException {
      String id = options.runId();
      String hocon;
      try {
        hocon = ClientCommands.resolvedRunFile(options.runFile());
        RunConfig config = RunConfig.parse(hocon);
        if (!options.jobMark().isEmpty()) {
          String name = (config.name.isBlank() ? id : config.name) + " " + options.jobMark();
          hocon = RunConfig.parse(hocon, List.of("name=" + quoted(name))).toHocon();
        }
      } catch (RunConfigException e) {
        return finish(QuarryCli.EXIT_USAGE, "run " + id + " was not submitted: " + e.getMessage());
      }
      while (!terminating) {
        CoordinatorCommand.SubmitReply reply = ask(client.submit(new RunSpec(id, hocon)).toCompletableFuture());
        if (reply instanceof CoordinatorCommand.SubmitReply.Accepted accepted) {
          System.out.println("quarry worker: submitted run " + id + " (" + accepted.runDir() + ")");
          return null;
        }
        if (reply instanceof CoordinatorCommand.SubmitReply.Rejected rejected) {
          if (rejected.why() == CoordinatorCommand.SubmitReply.Why.TAKEN) return taken();
          if (rejected.why() != CoordinatorCommand.SubmitReply.Why.FULL) {
            return finish(QuarryCli.EXIT_USAGE, "run " + id + " was refused: " + rejected.error());
          }
          System.out.println("quarry worker: " + rejected.error());
        }
        Thread.sleep(5 * POLL.toMillis()); // no answer (a coordinator failing over) or a full queue: again
      }
      return QuarryCli.EXIT_FAILED;
    }

    /** The run id is taken: by this Job's run (this node was replaced), which it follows, or by another run. */
    private Integer taken() throws InterruptedException {
      RunStatus existing = status();
      if (existing != null && ours(existing)) return null;
      return finish(QuarryCli.EXIT_USAGE, "a run named " + options.runId() + " exists already"
          + (existing == null ? "" : " (" + existing.state().wireName() + ")") + " and is not this Job's; give the "
          + "Job's run a new name (quarry k8s job --name)");
    }

    private boolean ours(RunStatus status) {
      return options.jobMark().isEmpty() ? !status.state().isFinal() : status.name().endsWith(options.jobMark());
    }

    /** Polls until the run exists (and is this Job's); null when it does not appear in time. */
    private RunStatus awaitRun(long deadline) throws InterruptedException {
      while (System.nanoTime() < deadline && !terminating) {
        RunStatus status = status();
        if (status != null && ours(status)) return status;
        Thread.sleep(POLL.toMillis());
      }
      return null;
    }

    /** Follows the run to its end, a progress line every few seconds; returns the exit code. */
    private int follow(RunStatus first) throws InterruptedException {
      ProgressLine progress = new ProgressLine(System.out, false);
      RunStatus status = first;
      RunState shown = null;
      while (!status.state().isFinal()) {
        if (status.state() != shown) {
          System.out.println("quarry worker: run " + options.runId() + " is " + status.state().wireName());
          shown = status.state();
        }
        progress.update(progressOf(status));
        Thread.sleep(POLL.toMillis());
        RunStatus next = status();
        if (next != null) status = next;
      }
      ended.set(status);
      System.out.println(ProgressLine.render(progressOf(status)));
      long wallS = Math.max(0, status.finishedUnixMs() - status.submittedUnixMs()) / 1000;
      String how = "run " + options.runId() + " " + status.state().wireName() + ": " + status.steps() + "/"
          + status.totalSteps() + " steps in " + wallS + " s"
          + (status.reason().isEmpty() ? "" : "; " + status.reason());
      return finish(status.state() == RunState.COMPLETED ? QuarryCli.EXIT_COMPLETED : QuarryCli.EXIT_FAILED, how);
    }

    /** SIGTERM (the Job deleted): stops the run, unless it has ended, and waits for it to end within the phase. */
    private void stopOnTermination() {
      terminating = true;
      if (ended.get() != null) return;
      String id = options.runId();
      RunStatus status = status();
      if (status == null || !ours(status) || status.state().isFinal()) return;
      System.out.println("quarry worker: terminated; stopping run " + id);
      ask(client.stop(id, "the Job's pods were terminated (kubectl delete job " + id + ", or its deadline)")
          .toCompletableFuture());
      long deadline = System.nanoTime() + Duration.ofSeconds(35).toNanos();
      while (System.nanoTime() < deadline) {
        status = status();
        if (status != null && status.state().isFinal()) {
          finish(QuarryCli.EXIT_FAILED, "run " + id + " " + status.state().wireName() + ": " + status.reason());
          return;
        }
        try {
          Thread.sleep(POLL.toMillis());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
      finish(QuarryCli.EXIT_FAILED, "run " + id + " was still stopping when this pod's grace period ran out");
    }

    private RunStatus status() {
      CoordinatorCommand.RunStatusReply reply = ask(client.run(options.runId()).toCompletableFuture());
      return reply == null ? null : reply.status();
    }

    private RunUpdate.Progressed progressOf(RunStatus status) {
      long end = status.finishedUnixMs() > 0 ? status.finishedUnixMs() : System.currentTimeMillis();
      return new RunUpdate.Progressed(options.runId(), status.state(), status.steps(), status.totalSteps(),
          status.lastLoss(), status.samplesPerSec(), end - status.submittedUnixMs());
    }

    /** Says how the run ended, on standard output and in the termination-message file; returns {@code code}. */
    private int finish(int code, String message) {
      (code == QuarryCli.EXIT_COMPLETED ? System.out : System.err).println("quarry worker: " + message);
      if (options.terminationMessage() != null) {
        byte[] bytes = message.getBytes(StandardCharsets.UTF_8);
        try {
          Files.write(options.terminationMessage(),
              bytes.length <= MESSAGE_BYTES ? bytes : java.util.Arrays.copyOf(bytes, MESSAGE_BYTES));
        } catch (IOException e) {
          System.err.println("quarry worker: cannot write the termination message to " + options.terminationMessage()
              + ": " + e.getMessage());
        }
      }
      return code;
    }

    /** The answer, or null when the coordinator did not answer in time (it may be failing over). */
    private static <T> T ask(CompletableFuture<T> answer) {
      try {
        return answer.get(ASK.toMillis() + 1000, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return null;
      } catch (Exception e) {
        return null;
      }
    }
  }

  private static String quoted(String text) {
    return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
