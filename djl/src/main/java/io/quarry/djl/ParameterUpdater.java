package io.quarry.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.quarry.protocol.config.RunConfig;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The optimizer ({@code optimizer.type} sgd with {@code momentum}, adam or adamw; {@code optimizer.weight-decay}): the
 * same fused libtorch updates DJL's own {@code Sgd}, {@code Adam} and {@code AdamW} call, but with the state (SGD's
 * momentum, Adam's moments and step count) held here, by parameter name, so a checkpoint can save it and a resumed
 * shard continues exactly. DJL's optimizers keep that state private and key it by random parameter ids.
 *
 * <p>Each update also zeroes the parameter's gradient (as DJL's optimizers do), ready for the next step.
 */
final class ParameterUpdater {
  private static final int STATE_MAGIC = 0x5155_4F50; // "QUOP"
  private static final int STATE_VERSION = 1;
  private static final float BETA1 = 0.9f;
  private static final float BETA2 = 0.999f;
  private static final float EPSILON = 1e-8f;
  private static final float NO_CLIP = -1f;

  private final String type;
  private final float momentum;
  private final float weightDecay;
  private final List<Pair<String, Parameter>> parameters;
  /** Per parameter name: [momentum] for sgd with momentum, [mean, variance] for adam(w); absent for plain sgd. */
  private final Map<String, NDArray[]> state = new LinkedHashMap<>();
  /** Updates taken (Adam's bias correction). */
  private long updates;

  ParameterUpdater(RunConfig config, List<Pair<String, Parameter>> parameters, NDManager manager) {
    this.type = config.optimizer.type();
    this.momentum = (float) config.optimizer.momentum();
    this.weightDecay = (float) config.optimizer.weightDecay();
    this.parameters = List.copyOf(parameters);
    int slots = type.equals("sgd") ? (momentum == 0 ? 0 : 1) : 2;
    for (Pair<String, Parameter> p : this.parameters) {
      NDArray weight = p.getValue().getArray();
      NDArray[] arrays = new NDArray[slots];
      for (int i = 0; i < slots; i++) arrays[i] = manager.zeros(weight.getShape(), weight.getDataType(), weight.getDevice());
      if (slots > 0) state.put(p.getKey(), arrays);
    }
  }

  long updates() {
    return updates;
  }

  /** One optimizer step over every parameter with learning rate {@code lr}, from the gradients of the last backward. */
  void step(float lr) {
    updates++;
    for (Pair<String, Parameter> p : parameters) {
      NDArray weight = p.getValue().getArray();
      NDArray grad = weight.getGradient();
      NDArray[] s = state.get(p.getKey());
      NDList weights = new NDList(weight);
      if (type.equals("sgd")) {
        NDList inputs = s == null ? new NDList(weight, grad) : new NDList(weight, grad, s[0]);
        weight.getNDArrayInternal().sgdUpdate(inputs, weights, lr, weightDecay, 1f, NO_CLIP, momentum, true);
      } else {
        double c1 = 1 - Math.pow(BETA1, updates);
        double c2 = 1 - Math.pow(BETA2, updates);
        float corrected = (float) (lr * Math.sqrt(c2) / c1);
        weight.getNDArrayInternal().adamUpdate(new NDList(weight, grad, s[0], s[1]), weights, lr, corrected,
            weightDecay, 1f, NO_CLIP, BETA1, BETA2, EPSILON, true, type.equals("adamw"));
      }
    }
  }

  /** Writes the state: the optimizer type, the update count, and each state array by parameter name. */
  void save(DataOutputStream out) throws IOException {
    out.writeInt(STATE_MAGIC);
    out.writeInt(STATE_VERSION);
    out.writeUTF(type);
    out.writeLong(updates);
    out.writeInt(state.size());
    for (Map.Entry<String, NDArray[]> e : state.entrySet()) {
      out.writeUTF(e.getKey());
      out.writeInt(e.getValue().length);
      for (NDArray array : e.getValue()) {
        float[] values = array.toFloatArray();
        out.writeInt(values.length);
        for (float v : values) out.writeFloat(v);
      }
    }
  }

  /**
   * Restores state written by {@link #save} for the same model and optimizer.
   *
   * @param source names the file in errors
   */
  void load(DataInputStream in, String source) throws IOException {
    if (in.readInt() != STATE_MAGIC) throw new IOException(source + ": not a Quarry optimizer state file");
    int version = in.readInt();
    if (version != STATE_VERSION) throw new IOException(source + ": optimizer state version " + version + ", expected " + STATE_VERSION);
    String written = in.readUTF();
    if (!written.equals(type)) {
      throw new IOException(source + ": written by optimizer '" + written + "', this run uses '" + type + "'");
    }
    long writtenUpdates = in.readLong();
    int entries = in.readInt();
    if (entries != state.size()) {
      throw new IOException(source + ": holds state for " + entries + " parameters, the model has " + state.size()
          + " with state (optimizer.momentum or the model changed?)");
    }
    List<Runnable> assignments = new ArrayList<>();
    for (int i = 0; i < entries; i++) {
      String name = in.readUTF();
      NDArray[] arrays = state.get(name);
      int slots = in.readInt();
      if (arrays == null || slots != arrays.length) {
        throw new IOException(source + ": unexpected state for parameter '" + name + "' (the model changed?)");
      }
      for (NDArray array : arrays) {
        int length = in.readInt();
        if (length != array.size()) {
          throw new IOException(source + ": parameter '" + name + "' has " + length + " state values, the model " + array.size());
        }
        float[] values = new float[length];
        for (int k = 0; k < length; k++) values[k] = in.readFloat();
        assignments.add(() -> array.set(FloatBuffer.wrap(values)));
      }
    }
    assignments.forEach(Runnable::run); // only once the whole file has been read and checked
    updates = writtenUpdates;
  }
}
