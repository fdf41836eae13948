package io.quarry.deploy;

import io.quarry.coordinator.Coordinator;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.Worker;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.actor.ActorIdentity;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.Identify;
import org.apache.pekko.actor.RootActorPath;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * A worker node's eyes on the cluster, for its workers' fencing: every node this node finds unreachable is told to
 * each worker (one whose coordinator it is fences its running attempt), and when the node leaves the cluster (stopped,
 * or downed by the split-brain resolver) every worker is fenced before anything else shuts down, so no attempt trains
 * on, or writes, as a zombie while the actor system waits for its trainer to return.
 *
 * <p>It also probes every coordinator node every {@code quarry.worker.write-lease / 5} (Pekko's {@code Identify},
 * answered by the node itself) and tells each worker when a probe was answered, with the time it was sent: the
 * workers' write lease ({@link Worker.NodeAnswered}). A probe answered was sent before any partition began, so a
 * worker whose lease counts from it stops writing sooner than the coordinator's failure detector can take it for lost.
 */
final class NodeWatch {
  private NodeWatch() {}

  /** Time to probe the coordinator nodes. */
  private enum ProbeTick {
    INSTANCE
  }

  /** Starts watching for {@code workers} of {@code system}'s node. */
  static void start(ActorSystem<?> system, List<ActorRef<WorkerCommand>> workers) {
    system.systemActorOf(watching(workers), "node-watch", Props.empty());
    Duration lease = system.settings().config().getDuration("quarry.worker.write-lease");
    if (!lease.isZero()) system.systemActorOf(probing(workers, lease.dividedBy(5)), "node-probe", Props.empty());
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

  /**
   * Every {@code interval}, an {@code Identify} to each other coordinator node's system guardian, its id the time it
   * was sent; each answer ({@code ActorIdentity}, whether or not it names an actor: the node answered) goes to the
   * workers. Pekko's own messages: nothing of Quarry's protocol crosses for this.
   */
  private static Behavior<Object> probing(List<ActorRef<WorkerCommand>> workers, Duration interval) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers -> {
      timers.startTimerWithFixedDelay(ProbeTick.INSTANCE, interval);
      Cluster cluster = Cluster.get(context.getSystem());
      org.apache.pekko.actor.ActorRef self = Adapter.toClassic(context.getSelf());
      return Behaviors.receive(Object.class)
          .onMessageEquals(ProbeTick.INSTANCE, () -> {
            Address own = cluster.selfMember().address();
            for (Member member : cluster.state().getMembers()) {
              if (!member.hasRole(Coordinator.ROLE) || member.address().equals(own)
                  || member.status() == MemberStatus.removed() || member.status() == MemberStatus.down()) {
                continue;
              }
              Adapter.toClassic(context.getSystem()).actorSelection(new RootActorPath(member.address(), "/")
                  .child("system")).tell(new Identify(System.nanoTime()), self);
            }
            return Behaviors.same();
          })
          .onMessage(ActorIdentity.class, answer -> {
            if (answer.correlationId() instanceof Long sentNs && answer.getActorRef().isPresent()) {
              Worker.NodeAnswered message =
                  new Worker.NodeAnswered(answer.getActorRef().get().path().address().toString(), sentNs);
              workers.forEach(worker -> worker.tell(message));
            }
            return Behaviors.same();
          })
          .build();
    }));
  }
}
