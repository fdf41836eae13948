package io.quarry.worker;

import io.quarry.protocol.LocalMessage;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerContext;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The supervised child that runs one shard attempt's trainer on its own thread (the worker spawns it on the
 * pinned trainer dispatcher). It trains, tells the worker how it ended, and stops: a crash of the trainer is
 * a message to the worker, never the end of the worker.
 */
final class TrainerRunner {
  /** The only message: start training. */
  enum Start implements LocalMessage {
    INSTANCE
  }

  /** How the attempt ended. */
  record Outcome(long token, ShardResult result, Throwable failure) implements LocalMessage {}

  private TrainerRunner() {}

  static Behavior<Start> create(long token, Trainer trainer, TrainerContext context, ActorRef<Outcome> replyTo) {
    return Behaviors.receiveMessage(start -> {
      ShardResult result = null;
      Throwable failure = null;
      try {
        result = trainer.train(context);
      } catch (Throwable t) {
        if (t instanceof VirtualMachineError error && !(t instanceof StackOverflowError)) throw error;
        failure = t;
      }
      replyTo.tell(new Outcome(token, result, failure));
      return Behaviors.stopped();
    });
  }
}
