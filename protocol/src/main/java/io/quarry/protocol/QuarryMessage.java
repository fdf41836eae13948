package io.quarry.protocol;

/**
 * Marker for every message that may cross the wire between Quarry nodes. {@code reference.conf} binds it
 * to {@link io.quarry.protocol.serialization.QuarryKryoSerializer}; a class that implements it must also be
 * listed in {@link io.quarry.protocol.serialization.ProtocolRegistry}.
 */
public interface QuarryMessage {}
