package io.quarry.protocol;

import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/** The Receptionist keys through which coordinators find workers. */
public final class ServiceKeys {
  /** Every worker actor registers under this key, one registration per device. */
  public static final ServiceKey<WorkerCommand> WORKER = ServiceKey.create(WorkerCommand.class, "quarry-worker");

  private ServiceKeys() {}
}
