package io.quarry.coordinator.plots;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;
import org.slf4j.Logger;

/**
 * Draws a run's plots when it ends ({@link RunPlots#write}), off the run actor's thread: on the coordinator's
 * blocking dispatcher. One per actor system. A process that is about to exit (local mode) waits for the plots in
 * flight with {@link #awaitIdle}, so that a run's plots are there when {@code quarry local} returns.
 */
public final class RunPlotter implements Extension {
  /** The dispatcher the plots are drawn on (quarry.coordinator.blocking-dispatcher). */
  static final String DISPATCHER = "quarry.coordinator.blocking-dispatcher";

  private static final ExtensionId<RunPlotter> ID = new ExtensionId<>() {
    @Override
    public RunPlotter createExtension(ActorSystem<?> system) {
      return new RunPlotter(system.dispatchers().lookup(DispatcherSelector.fromConfig(DISPATCHER)));
    }
  };

  private final Executor executor;
  private final Set<CompletableFuture<?>> inFlight = ConcurrentHashMap.newKeySet();

  private RunPlotter(Executor executor) {
    this.executor = executor;
  }

  /** The plotter of {@code system}. */
  public static RunPlotter get(ActorSystem<?> system) {
    return system.registerExtension(ID);
  }

  /** Draws the plots of the run in {@code runDir}; a failure is logged to {@code log}, never thrown. */
  public CompletableFuture<List<Path>> plot(Path runDir, Logger log) {
    CompletableFuture<List<Path>> plotted = CompletableFuture.supplyAsync(() -> {
      try {
        return RunPlots.write(runDir);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }, executor);
    inFlight.add(plotted);
    return plotted.whenComplete((files, failure) -> {
      inFlight.remove(plotted);
      if (failure != null) log.warn("cannot draw the plots of {}: {}", runDir, failure.getMessage());
    });
  }

  /** Waits until no plot is being drawn, at most {@code timeout}; false if some still are. */
  public boolean awaitIdle(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (CompletableFuture<?> plot : List.copyOf(inFlight)) {
      try {
        plot.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      } catch (java.util.concurrent.ExecutionException e) {
        // Logged where it failed.
      } catch (java.util.concurrent.TimeoutException e) {
        return false;
      }
    }
    return true;
  }
}
