package io.quarry.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.util.Pair;
import io.quarry.config.RunConfig;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The optimizer ({@code optimizer.type} sgd with {@code momentum}, adam or adamw; {@code optimizer.weight-decay}): the
 * same updates as DJL's own {@code Sgd}, {@code Adam} and {@code AdamW} (see {@link #step}), but with the state (SGD's
 * momentum, Adam's moments and step count) held here, by parameter name, so a checkpoint can save it and a resumed
 * shard continues exactly. DJL's optimizers keep that state private and key it by random parameter ids.
 *
 * <p>Each update also zeroes the parameter's gradient (as DJL's optimizers do), ready for the next step.
 */
final class ParameterUpdater {
  private static final int STATE_MAGIC = 0x5155_4F50; // "QUOP"
  /** 2: SGD momentum in torch.optim.SGD's units (before the learning rate); 1 held it after, as DJL's kernel does. */
  private static final int STATE_VERSION = 2;
  private static final float BETA1 = 0.9f;
  private static final float BETA2 = 0.999f;
  private static final float EPSILON = 1e-8f;
  private static final float NO_CLIP = -1f;

  private final String type;
  private final float momentum;
  private final float weightDecay;
  private final List<Pair<String, Parameter>> parameters;
  /** Plain SGD: the backward starts from lr·loss ({@link #lossToBackward}), so the gradients arrive scaled. */
  private final boolean prescaled;
  /** Per parameter name: [momentum] for sgd with momentum, [mean, variance] for adam(w); absent for plain sgd. */
  private final Map<String, NDArray[]> state = new LinkedHashMap<>();
  /** Updates taken (Adam's bias correction). */
  private long updates;

  ParameterUpdater(RunConfig config, List<Pair<String, Parameter>> parameters, NDManager manager) {
    this.type = DjlSettings.of(config).optimizer().type();
    this.momentum = (float) DjlSettings.of(config).optimizer().momentum();
    this.weightDecay = (float) DjlSettings.of(config).optimizer().weightDecay();
    this.parameters = List.copyOf(parameters);
    this.prescaled = type.equals("sgd") && momentum == 0 && weightDecay == 0;
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

  /**
   * What the step's backward pass starts from: the loss itself, or, for plain SGD (no momentum, no weight decay), the
   * loss times the learning rate, so that the gradients come out as {@code lr·g} and {@link #step} is one subtraction
   * per parameter. Scaling one scalar at the root saves a pass over every gradient.
   */
  NDArray lossToBackward(NDArray loss, float lr) {
    return prescaled ? loss.mul(lr) : loss;
  }

  /**
   * One optimizer step over every parameter with learning rate {@code lr}, from the gradients of the last backward of
   * {@link #lossToBackward}; leaves every gradient zeroed.
   *
   * <p>SGD runs in place with torch.optim.SGD's rule ({@code g += wd·w; m = momentum·m + g; w -= lr·m}, each term only
   * when it is not zero): libtorch's fused SGD kernel, which DJL's {@code Sgd} calls, clones the gradient and adds the
   * weight decay even when it is 0 (four passes over every parameter where plain SGD here needs one), and keeps the
   * momentum in units of lr·g, which differ from torch's once the learning rate changes. Adam and AdamW use the fused
   * kernel.
   */
  void step(float lr) {
    updates++;
    try (NoGrad off = new NoGrad()) { // in-place updates of parameters need grad mode off
      update(lr);
    }
  }

  private void update(float lr) {
    for (Pair<String, Parameter> p : parameters) {
      NDArray weight = p.getValue().getArray();
      NDArray[] s = state.get(p.getKey());
      // getGradient() makes a new handle on the model's manager each call: closed here, or they pile up there.
      try (NDArray grad = weight.getGradient()) {
        if (type.equals("sgd")) {
          sgd(weight, grad, s == null ? null : s[0], lr);
          JniUtils.zeroGrad((PtNDArray) weight);
        } else { // the fused kernel zeroes the gradient itself
          double c1 = 1 - Math.pow(BETA1, updates);
          double c2 = 1 - Math.pow(BETA2, updates);
          float corrected = (float) (lr * Math.sqrt(c2) / c1);
          weight.getNDArrayInternal().adamUpdate(new NDList(weight, grad, s[0], s[1]), new NDList(weight), lr, corrected,
              weightDecay, 1f, NO_CLIP, BETA1, BETA2, EPSILON, true, type.equals("adamw"));
        }
      }
    }
  }

  private void sgd(NDArray weight, NDArray grad, NDArray momentumBuffer, float lr) {
    if (prescaled) {
      weight.subi(grad); // already lr·g
      return;
    }
    if (weightDecay != 0) {
      try (NDArray decay = weight.mul(weightDecay)) {
        grad.addi(decay);
      }
    }
    if (momentumBuffer != null) {
      momentumBuffer.muli(momentum).addi(grad);
      try (NDArray scaled = momentumBuffer.mul(lr)) {
        weight.subi(scaled);
      }
    } else {
      weight.subi(grad.muli(lr));
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
        assignments.add(() -> InPlace.copy(array, values));
      }
    }
    assignments.forEach(Runnable::run); // only once the whole file has been read and checked
    updates = writtenUpdates;
  }
}
