package io.quarry.coordinator.http;

import com.typesafe.config.ConfigException;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.protocol.RunSpec;
import java.util.List;
import org.apache.pekko.http.javadsl.model.StatusCodes;

/**
 * The body of {@code POST /api/runs}: {@code {"config": "<HOCON of run keys>", "overrides": ["epochs=3"],
 * "run_id": "optional"}}, every field optional. The overrides apply over the config, in order, as on the command
 * line, and the result is validated once.
 */
record SubmitRequest(String configHocon, List<String> overrides, String runId) {
  static final List<String> FIELDS = List.of("config", "overrides", "run_id");

  static SubmitRequest parse(byte[] body) {
    JsonBody json = JsonBody.parse(body, FIELDS);
    return new SubmitRequest(json.string("config"), json.strings("overrides", "[\"epochs=3\"]"), json.string("run_id"));
  }

  /**
   * The run to submit, validated as the coordinator will validate it, so that a bad request is refused before
   * anything reaches the coordinator. The spec carries the resolved config (every key), as the CLI sends it.
   */
  RunSpec toSpec() {
    if (runId != null && !RunDirectory.RUN_ID.matcher(runId).matches()) {
      throw new ApiError(StatusCodes.BAD_REQUEST,
          "field 'run_id': '" + runId + "' is not allowed; use 1-128 letters, digits, '.', '_' or '-', not starting with '.'");
    }
    try {
      RunConfig config = RunConfig.parse(configHocon == null ? "" : configHocon, overrides);
      return new RunSpec(runId, config.toHocon());
    } catch (RunConfigException e) {
      throw new ApiError(StatusCodes.BAD_REQUEST, e.getMessage());
    } catch (ConfigException e) {
      // RunConfig turns every problem it knows into a RunConfigException; this is the safety net.
      throw new ApiError(StatusCodes.BAD_REQUEST, "run config: " + e.getMessage());
    }
  }
}
