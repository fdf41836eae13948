package io.quarry.worker.trainer.process;

import io.quarry.config.RunConfig;
import io.quarry.protocol.DistributedRank;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.trainer.TrainerContext;
import java.io.File;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How one shard attempt's program is started: {@code process.command} with its placeholders filled in, the
 * {@code QUARRY_*} environment, and {@code process.workdir}.
 *
 * <p>Placeholders are replaced anywhere inside an argument ({@code --shard={shard}} works); text in braces that
 * is not a placeholder is left as it is, so arguments may carry JSON.
 */
final class ProcessLaunch {
  private ProcessLaunch() {}

  /** The placeholder values of one attempt, by name without braces; the same values go into the environment. */
  static Map<String, String> values(TrainerContext context) {
    ShardAssignment assignment = context.assignment();
    Map<String, String> values = new LinkedHashMap<>();
    values.put("shard", Integer.toString(assignment.shard()));
    values.put("shards", Integer.toString(assignment.shards()));
    values.put("attempt", Integer.toString(assignment.attempt()));
    values.put("run_id", context.runId());
    values.put("device", context.device());
    values.put("checkpoint_dir", context.checkpointDir().toString());
    values.put("resume_from", context.resumeFrom().map(Object::toString).orElse(""));
    values.put("first_sample", Long.toString(assignment.firstSample()));
    values.put("sample_count", Long.toString(assignment.sampleCount()));
    // The run's own training keys, so that a sweep over them reaches the program.
    values.put("epochs", Integer.toString(context.config().epochs));
    values.put("batch_size", Integer.toString(context.config().batchSize));
    values.put("lr", Double.toString(context.config().learningRate));
    values.put("seed", Long.toString(context.config().seed));
    return values;
  }

  /** {@code command} with every {@code {name}} placeholder replaced. */
  static List<String> expand(List<String> command, Map<String, String> values) {
    List<String> expanded = new ArrayList<>(command.size());
    for (String argument : command) {
      String result = argument;
      for (Map.Entry<String, String> value : values.entrySet()) {
        result = result.replace("{" + value.getKey() + "}", value.getValue());
      }
      expanded.add(result);
    }
    return expanded;
  }

  /**
   * torchrun's environment for one rank (torch 1.13's {@code LocalElasticAgent}, the same names and values), so a
   * script written for torchrun runs unchanged. {@code TORCHELASTIC_USE_AGENT_STORE=False}: rank 0's program hosts the
   * TCPStore at {@code MASTER_ADDR:MASTER_PORT} itself (there is no agent's store). As torchrun does for more than one
   * rank per host, {@code OMP_NUM_THREADS=1} unless the worker's own environment sets it.
   */
  static void putTorchrunEnvironment(Map<String, String> env, DistributedRank rank, String runId) {
    env.put("RANK", Integer.toString(rank.rank()));
    env.put("LOCAL_RANK", Integer.toString(rank.localRank()));
    env.put("GROUP_RANK", Integer.toString(rank.groupRank()));
    env.put("ROLE_RANK", Integer.toString(rank.rank()));
    env.put("ROLE_NAME", "default");
    env.put("LOCAL_WORLD_SIZE", Integer.toString(rank.localWorldSize()));
    env.put("WORLD_SIZE", Integer.toString(rank.worldSize()));
    env.put("GROUP_WORLD_SIZE", Integer.toString(rank.groupWorldSize()));
    env.put("ROLE_WORLD_SIZE", Integer.toString(rank.worldSize()));
    env.put("MASTER_ADDR", rank.masterAddr());
    env.put("MASTER_PORT", Integer.toString(rank.masterPort()));
    env.put("TORCHELASTIC_RESTART_COUNT", Integer.toString(rank.restartCount()));
    env.put("TORCHELASTIC_MAX_RESTARTS", Integer.toString(rank.maxRestarts()));
    env.put("TORCHELASTIC_RUN_ID", runId);
    env.put("TORCHELASTIC_USE_AGENT_STORE", "False");
    env.putIfAbsent("NCCL_ASYNC_ERROR_HANDLING", "1");
    if (rank.localWorldSize() > 1) env.putIfAbsent("OMP_NUM_THREADS", "1");
  }

  /** The process builder for one attempt; stdout and stderr stay pipes for the trainer to read. */
  static ProcessBuilder builder(RunConfig config, TrainerContext context) {
    Map<String, String> values = values(context);
    ProcessSettings process = ProcessSettings.of(config);
    ProcessBuilder builder = new ProcessBuilder(expand(process.command(), values));
    Map<String, String> env = builder.environment();
    env.put("QUARRY_RUN_ID", values.get("run_id"));
    env.put("QUARRY_SHARD", values.get("shard"));
    env.put("QUARRY_SHARDS", values.get("shards"));
    env.put("QUARRY_ATTEMPT", values.get("attempt"));
    env.put("QUARRY_DEVICE", values.get("device"));
    env.put("QUARRY_CHECKPOINT_DIR", values.get("checkpoint_dir"));
    env.put("QUARRY_RESUME_FROM", values.get("resume_from"));
    env.put("QUARRY_FIRST_SAMPLE", values.get("first_sample"));
    env.put("QUARRY_EPOCHS", values.get("epochs"));
    env.put("QUARRY_BATCH_SIZE", values.get("batch_size"));
    env.put("QUARRY_LR", values.get("lr"));
    env.put("QUARRY_SEED", values.get("seed"));
    env.put("QUARRY_SAMPLE_COUNT", values.get("sample_count"));
    // Always set, so a value inherited from the worker's own environment cannot contradict the run's config.
    env.put(RunConfig.DISABLE_TELEMETRY_ENV, Boolean.toString(!config.telemetryEnabled()));
    DistributedRank rank = context.assignment().rank();
    if (rank != null) putTorchrunEnvironment(env, rank, context.runId());
    if (!process.workdir().isBlank()) builder.directory(new File(process.workdir()));
    return builder;
  }
}
