package io.quarry.worker.trainer;

import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;

/** The trainer factories on the class path, by name. */
public final class TrainerRegistry {
  private final Map<String, TrainerFactory> factories = new TreeMap<>();

  private TrainerRegistry() {}

  /** Every factory {@link ServiceLoader} finds. */
  public static TrainerRegistry load() {
    TrainerRegistry registry = new TrainerRegistry();
    for (TrainerFactory factory : ServiceLoader.load(TrainerFactory.class)) {
      registry.factories.put(factory.name(), factory);
    }
    return registry;
  }

  /** Exactly these factories (tests: a trainer of their own under a name the run config accepts). */
  public static TrainerRegistry of(TrainerFactory... factories) {
    TrainerRegistry registry = new TrainerRegistry();
    for (TrainerFactory factory : factories) registry.factories.put(factory.name(), factory);
    return registry;
  }

  /**
   * This registry with {@code factory} added, in place of the one of the same name if there is one: for embedding
   * Quarry with a trainer of your own, and for tests that stand a test trainer in for a named one.
   */
  public TrainerRegistry with(TrainerFactory factory) {
    TrainerRegistry registry = new TrainerRegistry();
    registry.factories.putAll(factories);
    registry.factories.put(factory.name(), factory);
    return registry;
  }

  /** The factory called {@code name}; fails with the names that exist. */
  public TrainerFactory get(String name) {
    TrainerFactory factory = factories.get(name);
    if (factory == null) {
      throw new IllegalArgumentException("no trainer named '" + name + "' on this worker; available: " + factories.keySet());
    }
    return factory;
  }
}
