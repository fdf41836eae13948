package io.quarry.djl;

import io.quarry.config.RunConfig;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A seeded train/validation split of {@code total} rows: a seeded shuffle picks the validation rows
 * ({@link DjlSettings.Dataset#valCount} of them); both splits keep the rows in file order, so training sample id {@code i}
 * is the {@code i}-th training row, the same on every worker.
 */
public record Split(int[] train, int[] val) {
  private static final long SALT = 0x5_9117L;

  public static Split of(int total, double valFraction, long seed) {
    int valCount = (int) DjlSettings.Dataset.valCount(total, valFraction);
    int[] order = new int[total];
    for (int i = 0; i < total; i++) order[i] = i;
    SplittableRandom random = new SplittableRandom(seed ^ SALT);
    for (int i = total - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    int[] val = Arrays.copyOf(order, valCount);
    int[] train = Arrays.copyOfRange(order, valCount, total);
    Arrays.sort(val);
    Arrays.sort(train);
    return new Split(train, val);
  }
}
