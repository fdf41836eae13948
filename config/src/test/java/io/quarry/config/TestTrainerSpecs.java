package io.quarry.config;

import java.util.List;

/**
 * Trainers of the config module's own tests, contributed through the same {@link TrainerSpec} SPI as the real ones
 * (the real trainers live in modules that depend on this one): {@code toy}, this module's default trainer in tests
 * (its test reference.conf says so), and {@code needy}, whose check needs a key that has no usable default.
 */
final class TestTrainerSpecs {
  private TestTrainerSpecs() {}

  /** {@code trainer = toy}: a dataset size, a duration and a list, like the stub's. */
  public static final class Toy implements TrainerSpec {
    @Override
    public String name() {
      return "toy";
    }

    @Override
    public String description() {
      return "a test trainer";
    }

    @Override
    public List<ConfigKey> keys() {
      return List.of(
          ConfigKey.longInt("toy.samples", 1, 1L << 40, "size of the toy dataset"),
          ConfigKey.duration("toy.step-time", 0, 3_600_000, "pacing of each toy step"),
          ConfigKey.intList("toy.fault-shards", 0, 1_000_000, "shards the toy's faults apply to"));
    }

    @Override
    public long samples(RunConfig config) {
      return config.raw().getLong("toy.samples");
    }

    @Override
    public List<String> resumableKeys() {
      return List.of("toy.step-time");
    }
  }

  /** {@code trainer = needy}: refuses a run whose {@code needy.command} is empty (its default). */
  public static final class Needy implements TrainerSpec {
    @Override
    public String name() {
      return "needy";
    }

    @Override
    public String description() {
      return "a test trainer with a required key";
    }

    @Override
    public List<ConfigKey> keys() {
      return List.of(ConfigKey.stringList("needy.command", "the program to run"));
    }

    @Override
    public void check(RunConfig config) {
      if (config.raw().getStringList("needy.command").isEmpty()) {
        throw new RunConfigException("config key 'needy.command': empty, but trainer = needy needs the program to run; "
            + "allowed: a non-empty list of strings");
      }
    }

    @Override
    public long samples(RunConfig config) {
      return 1;
    }
  }
}
