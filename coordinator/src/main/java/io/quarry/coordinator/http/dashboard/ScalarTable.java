package io.quarry.coordinator.http.dashboard;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The rows of a run's {@code scalars.csv} ({@code step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,
 * ts_unix_ns}), column by column in primitive arrays, so that a long run's 200,000 rows cost a few megabytes and are
 * read, downsampled and sliced without an object per row. Rows only grow. Not thread-safe: its {@link RunFolder}
 * guards it.
 */
final class ScalarTable {
  static final byte TRAIN = 0;
  static final byte VAL = 1;

  private int size;
  private long[] step = new long[1024];
  private int[] epoch = new int[1024];
  private int[] worker = new int[1024];
  private int[] shard = new int[1024];
  private byte[] split = new byte[1024];
  private float[] loss = new float[1024];
  private float[] lr = new float[1024];
  private float[] samplesPerSec = new float[1024];
  private float[] accuracy = new float[1024];
  private long[] tsMs = new long[1024];
  private final List<String> workers = new ArrayList<>();
  private final Map<String, Integer> workerIndex = new HashMap<>();
  private int malformed;

  int size() {
    return size;
  }

  /** Lines that were not a row (the header, a line cut short): skipped. */
  int malformed() {
    return malformed;
  }

  long step(int row) {
    return step[row];
  }

  int epoch(int row) {
    return epoch[row];
  }

  int worker(int row) {
    return worker[row];
  }

  String workerName(int index) {
    return workers.get(index);
  }

  List<String> workerNames() {
    return List.copyOf(workers);
  }

  int shard(int row) {
    return shard[row];
  }

  byte split(int row) {
    return split[row];
  }

  float loss(int row) {
    return loss[row];
  }

  float lr(int row) {
    return lr[row];
  }

  float samplesPerSec(int row) {
    return samplesPerSec[row];
  }

  float accuracy(int row) {
    return accuracy[row];
  }

  long tsMs(int row) {
    return tsMs[row];
  }

  /** Adds the row in {@code bytes[start, end)}; the header and malformed lines are counted and skipped. */
  void add(byte[] bytes, int start, int end) {
    int[] commas = new int[9];
    int found = 0;
    for (int i = start; i < end && found < 9; i++) {
      if (bytes[i] == ',') commas[found++] = i;
    }
    if (found != 9 || bytes[start] < '0' && bytes[start] != '-' || bytes[start] > '9') {
      malformed++;
      return;
    }
    try {
      long rowStep = Long.parseLong(text(bytes, start, commas[0]));
      int rowEpoch = Integer.parseInt(text(bytes, commas[0] + 1, commas[1]));
      String rowWorker = text(bytes, commas[1] + 1, commas[2]);
      int rowShard = Integer.parseInt(text(bytes, commas[2] + 1, commas[3]));
      String rowSplit = text(bytes, commas[3] + 1, commas[4]);
      float rowLoss = number(bytes, commas[4] + 1, commas[5]);
      float rowLr = number(bytes, commas[5] + 1, commas[6]);
      float rowSps = number(bytes, commas[6] + 1, commas[7]);
      float rowAccuracy = number(bytes, commas[7] + 1, commas[8]);
      long rowTsNs = Long.parseLong(text(bytes, commas[8] + 1, end));
      grow();
      step[size] = rowStep;
      epoch[size] = rowEpoch;
      worker[size] = workerIndex.computeIfAbsent(rowWorker, name -> {
        workers.add(name);
        return workers.size() - 1;
      });
      shard[size] = rowShard;
      split[size] = "val".equals(rowSplit) ? VAL : TRAIN;
      loss[size] = rowLoss;
      lr[size] = rowLr;
      samplesPerSec[size] = rowSps;
      accuracy[size] = rowAccuracy;
      tsMs[size] = rowTsNs / 1_000_000L;
      size++;
    } catch (NumberFormatException e) {
      malformed++;
    }
  }

  private void grow() {
    if (size < step.length) return;
    int capacity = step.length * 2;
    step = Arrays.copyOf(step, capacity);
    epoch = Arrays.copyOf(epoch, capacity);
    worker = Arrays.copyOf(worker, capacity);
    shard = Arrays.copyOf(shard, capacity);
    split = Arrays.copyOf(split, capacity);
    loss = Arrays.copyOf(loss, capacity);
    lr = Arrays.copyOf(lr, capacity);
    samplesPerSec = Arrays.copyOf(samplesPerSec, capacity);
    accuracy = Arrays.copyOf(accuracy, capacity);
    tsMs = Arrays.copyOf(tsMs, capacity);
  }

  private static String text(byte[] bytes, int start, int end) {
    return new String(bytes, start, end - start, StandardCharsets.UTF_8);
  }

  /** An empty cell is NaN (the column does not apply to the row). */
  private static float number(byte[] bytes, int start, int end) {
    return start == end ? Float.NaN : Float.parseFloat(text(bytes, start, end));
  }
}
