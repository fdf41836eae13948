package io.quarry.coordinator;

import io.quarry.protocol.CoordinatorCommand.WorkerHost;
import io.quarry.protocol.CoordinatorCommand.WorkerInfo;
import io.quarry.protocol.HostLoad;
import io.quarry.protocol.WorkerState;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The last host load each worker reported ({@code HostReported}): what the Cluster page shows per host. Plain logic;
 * a lost worker's report is left out of what it answers.
 */
final class HostLoads {
  private final Map<String, HostLoad> byWorker = new HashMap<>();

  /** Worker {@code workerId} reported {@code load}. */
  void reported(String workerId, HostLoad load) {
    if (workerId != null && load != null) byWorker.put(workerId, load);
  }

  /** The reports of the live workers among {@code workers}, in their order. */
  List<WorkerHost> of(List<WorkerInfo> workers) {
    List<WorkerHost> out = new ArrayList<>();
    for (WorkerInfo worker : workers) {
      if (worker.workerId() == null || worker.state() == WorkerState.LOST) continue;
      HostLoad load = byWorker.get(worker.workerId());
      if (load != null) out.add(new WorkerHost(worker.workerId(), load));
    }
    return out;
  }
}
