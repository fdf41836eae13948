package io.quarry.deploy;

import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.Worker;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * A worker node's eyes on the cluster, for its workers' fencing: every node this node finds unreachable is told to
 * each worker (one whose coordinator it is fences its running attempt), and when the node leaves the cluster (stopped,
 * or downed by the split-brain resolver) every worker is fenced before anything else shuts down, so no attempt trains
 * on, or writes, as a zombie while the actor system waits for its trainer to return.
 */
final class NodeWatch {
  private NodeWatch() {}

  /** Starts watching for {@code workers} of {@code system}'s node. */
  static void start(ActorSystem<?> system, List<ActorRef<WorkerCommand>> workers) {
    system.systemActorOf(watching(workers), "node-watch", Props.empty());
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "quarry-fence-workers",
        () -> {
          Worker.Fence fence = new Worker.Fence("this worker's node is leaving the cluster (stopped, or downed by the "
              + "split-brain resolver)");
          workers.forEach(worker -> worker.tell(fence));
          return CompletableFuture.completedFuture(Done.getInstance());
        });
  }

  private static Behavior<ClusterEvent.UnreachableMember> watching(List<ActorRef<WorkerCommand>> workers) {
    return Behaviors.setup(context -> {
      Cluster.get(context.getSystem()).subscriptions()
          .tell(Subscribe.create(context.getSelf(), ClusterEvent.UnreachableMember.class));
      return Behaviors.receiveMessage(unreachable -> {
        Worker.NodeUnreachable message = new Worker.NodeUnreachable(unreachable.member().address().toString());
        workers.forEach(worker -> worker.tell(message));
        return Behaviors.same();
      });
    });
  }
}
