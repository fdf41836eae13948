package io.quarry.protocol;

/**
 * A run as it is submitted and as workers receive it.
 *
 * @param runId the run's id; {@code null} in a submission lets the coordinator choose one
 * @param configHocon the run's config as HOCON text (only the run keys, without the {@code quarry.run} prefix);
 *     parse it with {@link io.quarry.config.RunConfig#parse(String)}
 */
public record RunSpec(String runId, String configHocon) implements QuarryMessage {
  public RunSpec withRunId(String id) {
    return new RunSpec(id, configHocon);
  }
}
