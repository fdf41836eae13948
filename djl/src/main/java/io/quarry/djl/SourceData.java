package io.quarry.djl;

import java.util.List;

/**
 * What a dataset reader read, before splitting and normalisation: its samples with raw values, and the validation
 * split when the source has its own (idx t10k files, an image folder's val/ or test/).
 *
 * @param samples every sample, or the training split when {@code val} is not null
 * @param val the source's own validation split, or {@code null}: {@code dataset.val-fraction} of {@code samples} is
 *     then held out
 * @param classNames the name of each class, by label; empty when a class is known by its number
 */
public record SourceData(TabularData samples, TabularData val, List<String> classNames) {
  public SourceData {
    classNames = List.copyOf(classNames);
  }

  /** Samples without their own validation split or class names. */
  public static SourceData of(TabularData samples) {
    return new SourceData(samples, null, List.of());
  }
}
