package io.quarry.protocol.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.util.DefaultClassResolver;
import com.esotericsoftware.kryo.util.MapReferenceResolver;
import com.esotericsoftware.kryo.util.Pool;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleSnapshotPart;
import io.quarry.protocol.QuarryMessage;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.WorkerCommand;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;

/**
 * Pekko serializer for every {@link io.quarry.protocol.QuarryMessage}: Kryo 5 with registration required, so
 * only the classes in {@link ProtocolRegistry} are ever written or read, and an unregistered class fails with an
 * error that names it. Kryo instances and output buffers are pooled (Kryo is not thread-safe). Typed
 * {@link ActorRef}s travel as their serialization format through {@link ActorRefResolver}; any {@link List} or
 * {@link Map} travels as an unmodifiable copy.
 */
public final class QuarryKryoSerializer extends org.apache.pekko.serialization.JSerializer {
  /** The serializer id Pekko writes beside every message. */
  public static final int IDENTIFIER = 7301;

  private final ActorRefResolver resolver;
  private final Pool<Kryo> kryos;
  private final Pool<Output> outputs;

  public QuarryKryoSerializer(ExtendedActorSystem system) {
    this.resolver = ActorRefResolver.get(Adapter.toTyped(system));
    int poolSize = system.settings().config().getInt("quarry.kryo.pool-size");
    int bufferBytes = system.settings().config().getInt("quarry.kryo.buffer-bytes");
    this.kryos = new Pool<>(true, false, poolSize) {
      @Override
      protected Kryo create() {
        return newKryo(resolver);
      }
    };
    this.outputs = new Pool<>(true, false, poolSize) {
      @Override
      protected Output create() {
        return new Output(bufferBytes, -1);
      }
    };
  }

  /** A Kryo configured exactly as the serializer uses it (also for tests and benchmarks). */
  public static Kryo newKryo(ActorRefResolver resolver) {
    Kryo kryo = new Kryo(new QuarryClassResolver(), new MapReferenceResolver());
    kryo.setRegistrationRequired(true);
    kryo.setReferences(false);
    kryo.register(ActorRef.class, new ActorRefSerializer(resolver), ProtocolRegistry.FIRST_ID - 3);
    kryo.register(List.class, new ListSerializer(), ProtocolRegistry.FIRST_ID - 2);
    kryo.register(Map.class, new MapSerializer(), ProtocolRegistry.FIRST_ID - 1);
    List<Class<?>> classes = ProtocolRegistry.classes();
    for (int i = 0; i < classes.size(); i++) kryo.register(classes.get(i), ProtocolRegistry.FIRST_ID + i);
    // The all-gather's messages (K entries per worker and merge) are written field by field, without Kryo's
    // reflective record path and its boxing; a message of one worker's entries names the worker once, not per entry.
    registerWith(kryo, HardExample.class, new HardExampleSerializer());
    registerWith(kryo, HardExampleSnapshotPart.class, new SnapshotPartSerializer());
    registerWith(kryo, WorkerCommand.MergedHardExamples.class, new MergedSerializer());
    return kryo;
  }

  private static void registerWith(Kryo kryo, Class<?> type, Serializer<?> serializer) {
    kryo.register(type, serializer, ProtocolRegistry.FIRST_ID + ProtocolRegistry.classes().indexOf(type));
  }

  @Override
  public int identifier() {
    return IDENTIFIER;
  }

  @Override
  public boolean includeManifest() {
    return false;
  }

  @Override
  public byte[] toBinary(Object message) {
    Kryo kryo = kryos.obtain();
    Output output = outputs.obtain();
    try {
      output.reset();
      kryo.writeClassAndObject(output, message);
      return output.toBytes();
    } catch (KryoException | IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "Quarry's Kryo serializer cannot write " + message.getClass().getName() + ": " + firstLine(e)
              + " (every class that crosses the wire must be listed in " + ProtocolRegistry.class.getName() + ")",
          e);
    } finally {
      outputs.free(output);
      kryos.free(kryo);
    }
  }

  @Override
  public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
    Kryo kryo = kryos.obtain();
    Object message;
    try {
      message = kryo.readClassAndObject(new BoundedInput(bytes));
    } catch (RuntimeException e) {
      // Corrupt input surfaces as KryoException, IllegalArgumentException, NegativeArraySizeException, ...
      throw new IllegalArgumentException(
          "Quarry's Kryo serializer cannot read a message of " + bytes.length + " bytes: " + firstLine(e), e);
    } finally {
      kryos.free(kryo);
    }
    if (!(message instanceof QuarryMessage)) {
      throw new IllegalArgumentException("Quarry's Kryo serializer cannot read a message of " + bytes.length
          + " bytes: it holds " + (message == null ? "null" : "a " + message.getClass().getName())
          + ", not a " + QuarryMessage.class.getName());
    }
    return message;
  }

  private static String firstLine(Throwable e) {
    String message = String.valueOf(e.getMessage());
    int newline = message.indexOf('\n');
    return newline < 0 ? message : message.substring(0, newline);
  }

  /**
   * An {@link Input} that refuses a declared length longer than the bytes left, so that a few corrupt bytes cannot
   * make it allocate gigabytes (Kryo allocates an array or string of the declared length before it reads).
   */
  private static final class BoundedInput extends Input {
    BoundedInput(byte[] bytes) {
      super(bytes);
    }

    private int checkedLength(int length, int minBytesEach) {
      if (length < 0 || (long) length * minBytesEach > limit - position) {
        throw new KryoException("declared length " + length + " does not fit in the " + (limit - position) + " bytes left");
      }
      return length;
    }

    @Override
    public byte[] readBytes(int length) {
      return super.readBytes(checkedLength(length, 1));
    }

    @Override
    public int[] readInts(int length) {
      return super.readInts(checkedLength(length, 4));
    }

    @Override
    public int[] readInts(int length, boolean optimizePositive) {
      return super.readInts(checkedLength(length, 1), optimizePositive);
    }

    @Override
    public long[] readLongs(int length) {
      return super.readLongs(checkedLength(length, 8));
    }

    @Override
    public long[] readLongs(int length, boolean optimizePositive) {
      return super.readLongs(checkedLength(length, 1), optimizePositive);
    }

    @Override
    public float[] readFloats(int length) {
      return super.readFloats(checkedLength(length, 4));
    }

    @Override
    public double[] readDoubles(int length) {
      return super.readDoubles(checkedLength(length, 8));
    }

    /** {@link #readString()} reads a UTF-8 string's char count + 1 with this; every char takes at least a byte. */
    @Override
    public int readVarIntFlag(boolean optimizePositive) {
      int charCountPlusOne = super.readVarIntFlag(optimizePositive);
      if (charCountPlusOne > 1) checkedLength(charCountPlusOne - 1, 1);
      return charCountPlusOne;
    }
  }

  /** An element count read from the wire; every element takes at least one byte. */
  private static int checkedSize(Input input) {
    int size = input.readVarInt(true);
    if (size < 0 || size > input.limit() - input.position()) {
      throw new KryoException("declared size " + size + " does not fit in the " + (input.limit() - input.position()) + " bytes left");
    }
    return size;
  }

  /** Resolves every implementation of {@link ActorRef}, {@link List} and {@link Map} to that interface's registration. */
  private static final class QuarryClassResolver extends DefaultClassResolver {
    @Override
    public Registration getRegistration(Class type) {
      Registration registration = super.getRegistration(type);
      if (registration != null) return registration;
      if (ActorRef.class.isAssignableFrom(type)) return super.getRegistration(ActorRef.class);
      if (List.class.isAssignableFrom(type)) return super.getRegistration(List.class);
      if (Map.class.isAssignableFrom(type)) return super.getRegistration(Map.class);
      return null;
    }
  }

  private static final class ActorRefSerializer extends Serializer<ActorRef<?>> {
    private final ActorRefResolver resolver;

    ActorRefSerializer(ActorRefResolver resolver) {
      this.resolver = resolver;
    }

    @Override
    public void write(Kryo kryo, Output output, ActorRef<?> ref) {
      output.writeString(resolver.toSerializationFormat(ref));
    }

    @Override
    public ActorRef<?> read(Kryo kryo, Input input, Class<? extends ActorRef<?>> type) {
      return resolver.resolveActorRef(input.readString());
    }
  }

  private static final class ListSerializer extends Serializer<List<?>> {
    @Override
    public void write(Kryo kryo, Output output, List<?> list) {
      output.writeVarInt(list.size(), true);
      for (Object element : list) kryo.writeClassAndObject(output, element);
    }

    @Override
    public List<?> read(Kryo kryo, Input input, Class<? extends List<?>> type) {
      int size = checkedSize(input);
      List<Object> list = new ArrayList<>(size);
      for (int i = 0; i < size; i++) list.add(kryo.readClassAndObject(input));
      return Collections.unmodifiableList(list);
    }
  }

  /** A {@link HardExample} in a list of any workers' entries (the hardest examples of a run's status or summary). */
  private static final class HardExampleSerializer extends Serializer<HardExample> {
    HardExampleSerializer() {
      setImmutable(true);
    }

    @Override
    public void write(Kryo kryo, Output output, HardExample entry) {
      output.writeString(entry.workerId());
      HardExampleCodec.writeEntry(output, entry);
    }

    @Override
    public HardExample read(Kryo kryo, Input input, Class<? extends HardExample> type) {
      return HardExampleCodec.readEntry(input, input.readString());
    }
  }

  /** A part of a worker's snapshot: its entries without their worker id ({@link HardExampleCodec}). */
  private static final class SnapshotPartSerializer extends Serializer<HardExampleSnapshotPart> {
    SnapshotPartSerializer() {
      setImmutable(true);
    }

    @Override
    public void write(Kryo kryo, Output output, HardExampleSnapshotPart part) {
      output.writeString(part.runId());
      output.writeVarInt(part.merge(), true);
      output.writeString(part.workerId());
      output.writeVarInt(part.part(), true);
      output.writeVarInt(part.parts(), true);
      output.writeVarLong(part.samplesSeen(), true);
      output.writeVarLong(part.aboveThreshold(), true);
      output.writeFloat(part.maxLoss());
      output.writeVarInt(part.sketchBytes(), true);
      byte[] slice = part.sketchSlice() == null ? new byte[0] : part.sketchSlice();
      output.writeVarInt(slice.length, true);
      output.writeBytes(slice);
      HardExampleCodec.writeEntries(output, part.workerId(), part.entries());
    }

    @Override
    public HardExampleSnapshotPart read(Kryo kryo, Input input, Class<? extends HardExampleSnapshotPart> type) {
      String runId = input.readString();
      int merge = input.readVarInt(true);
      String workerId = input.readString();
      int part = input.readVarInt(true);
      int parts = input.readVarInt(true);
      long samplesSeen = input.readVarLong(true);
      long aboveThreshold = input.readVarLong(true);
      float maxLoss = input.readFloat();
      int sketchBytes = input.readVarInt(true);
      byte[] slice = input.readBytes(input.readVarInt(true));
      return new HardExampleSnapshotPart(runId, merge, workerId, part, parts, samplesSeen, aboveThreshold, maxLoss,
          sketchBytes, slice, HardExampleCodec.readEntries(input, workerId));
    }
  }

  /** A part of one worker's share of a merged buffer: its own entries, without their worker id. */
  private static final class MergedSerializer extends Serializer<WorkerCommand.MergedHardExamples> {
    MergedSerializer() {
      setImmutable(true);
    }

    @Override
    public void write(Kryo kryo, Output output, WorkerCommand.MergedHardExamples merged) {
      output.writeVarLong(merged.incarnation(), false);
      output.writeString(merged.runId());
      output.writeVarInt(merged.merge(), true);
      output.writeDouble(merged.threshold());
      output.writeString(merged.workerId());
      output.writeVarInt(merged.part(), true);
      output.writeVarInt(merged.parts(), true);
      output.writeVarInt(merged.ownEntries(), true);
      kryo.writeObjectOrNull(output, merged.replyTo(), ActorRef.class);
      HardExampleCodec.writeEntries(output, merged.workerId(), merged.entries());
    }

    @Override
    @SuppressWarnings("unchecked")
    public WorkerCommand.MergedHardExamples read(Kryo kryo, Input input,
        Class<? extends WorkerCommand.MergedHardExamples> type) {
      long incarnation = input.readVarLong(false);
      String runId = input.readString();
      int merge = input.readVarInt(true);
      double threshold = input.readDouble();
      String workerId = input.readString();
      int part = input.readVarInt(true);
      int parts = input.readVarInt(true);
      int ownEntries = input.readVarInt(true);
      ActorRef<RunCommand> replyTo = kryo.readObjectOrNull(input, ActorRef.class);
      return new WorkerCommand.MergedHardExamples(incarnation, runId, merge, threshold, workerId, part, parts,
          ownEntries, HardExampleCodec.readEntries(input, workerId), replyTo);
    }
  }

  private static final class MapSerializer extends Serializer<Map<?, ?>> {
    @Override
    public void write(Kryo kryo, Output output, Map<?, ?> map) {
      output.writeVarInt(map.size(), true);
      for (Map.Entry<?, ?> entry : map.entrySet()) {
        kryo.writeClassAndObject(output, entry.getKey());
        kryo.writeClassAndObject(output, entry.getValue());
      }
    }

    @Override
    public Map<?, ?> read(Kryo kryo, Input input, Class<? extends Map<?, ?>> type) {
      int size = checkedSize(input);
      Map<Object, Object> map = new LinkedHashMap<>();
      for (int i = 0; i < size; i++) map.put(kryo.readClassAndObject(input), kryo.readClassAndObject(input));
      return Collections.unmodifiableMap(map);
    }
  }
}
