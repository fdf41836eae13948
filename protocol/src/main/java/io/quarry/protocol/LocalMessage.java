package io.quarry.protocol;

import org.apache.pekko.actor.NoSerializationVerificationNeeded;

/**
 * Marker for an actor's private messages (timer ticks, adapted replies, trainer results). They never leave
 * the JVM, so they are exempt from {@code serialize-messages} and are not registered with Kryo.
 */
public interface LocalMessage extends NoSerializationVerificationNeeded {}
