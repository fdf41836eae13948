package io.quarry.coordinator;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.BehaviorInterceptor;
import org.apache.pekko.actor.typed.Signal;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Fencing the other way: stops a coordinator's writes (run store, run directories) at once and for good, when its
 * node leaves the cluster (downed by the split-brain resolver on the minority side of a partition, or stopped), so
 * that it writes nothing once the standby may have taken over. The coordinator and every run actor it starts are
 * {@link #guard guarded}: a message (or timer) handled after {@link #fence} is dropped, and {@link #fence} returns
 * only once no handler that began before it is still running. Local mode's fence is never raised.
 */
public final class WriteFence {
  private final ReentrantReadWriteLock handlers = new ReentrantReadWriteLock();
  /** Why this coordinator writes nothing more, or null while it may. */
  private volatile String reason;

  /** Raises the fence: from now on the guarded actors handle nothing (their messages are dropped). */
  public boolean fence(String why, Duration wait) throws InterruptedException {
    if (reason == null) reason = why;
    // Every handler that started before the line above holds a read lock: wait until they are done.
    boolean quiet = handlers.writeLock().tryLock(wait.toMillis(), TimeUnit.MILLISECONDS);
    if (quiet) handlers.writeLock().unlock();
    return quiet;
  }

  /** Why the fence is raised, or null. */
  public String reason() {
    return reason;
  }

  /** {@code behavior}, dropping every message once the fence is raised; signals (its PostStop) still reach it. */
  public <T> Behavior<T> guard(Behavior<T> behavior, Class<T> type) {
    return Behaviors.intercept(() -> new Guard<>(type), behavior);
  }

  private final class Guard<T> extends BehaviorInterceptor<T, T> {
    Guard(Class<T> type) {
      super(type);
    }

    @Override
    public Behavior<T> aroundReceive(TypedActorContext<T> context, T message, ReceiveTarget<T> target) {
      if (reason != null) return Behaviors.same();
      handlers.readLock().lock();
      try {
        if (reason != null) return Behaviors.same(); // raised while this one waited for the lock
        return target.apply(context, message);
      } finally {
        handlers.readLock().unlock();
      }
    }

    @Override
    public Behavior<T> aroundSignal(TypedActorContext<T> context, Signal signal, SignalTarget<T> target) {
      return target.apply(context, signal);
    }

    @Override
    public boolean isSame(BehaviorInterceptor<Object, Object> other) {
      return other instanceof WriteFence.Guard<?> guard && guard.fence() == WriteFence.this;
    }

    private WriteFence fence() {
      return WriteFence.this;
    }
  }
}
