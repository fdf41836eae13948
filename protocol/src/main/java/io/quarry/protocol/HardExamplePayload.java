package io.quarry.protocol;

import java.util.Arrays;

/**
 * What a hard example looks like, rendered by the worker that contributed it to a merge: a PNG thumbnail of an
 * image, or the leading features of a tabular sample. Only entries that survive a merge are rendered, and each
 * sample at most once per worker and run, so payloads stay off the hard-example hot path and the merge.
 */
public sealed interface HardExamplePayload extends QuarryMessage
    permits HardExamplePayload.Png, HardExamplePayload.Features {
  /** The media type of a {@link Png} payload. */
  String PNG_MEDIA_TYPE = "image/png";
  /** The media type of a {@link Features} payload: a JSON array of numbers in the run directory. */
  String FEATURES_MEDIA_TYPE = "application/vnd.quarry.features+json";
  /** The longest side of a {@link Png} payload, in pixels: a thumbnail. */
  int MAX_PNG_SIDE = 64;
  /** The most values a {@link Features} payload carries: the sample's leading features. */
  int MAX_FEATURES = 64;

  /** The sample's stable index. */
  long sampleId();

  /** The sample's label as the merged entry carried it, or {@link HardExample#UNKNOWN}. */
  int label();

  /** The predicted class as the merged entry carried it, or {@link HardExample#UNKNOWN}. */
  int predicted();

  /** {@link #PNG_MEDIA_TYPE} or {@link #FEATURES_MEDIA_TYPE}. */
  String mediaType();

  /** The payload's size on the wire and on disk, roughly: what size caps are applied to. */
  int sizeBytes();

  /**
   * A PNG image, at most {@link #MAX_PNG_SIDE} pixels a side.
   *
   * @param png the encoded PNG file
   */
  record Png(long sampleId, int label, int predicted, byte[] png) implements HardExamplePayload {
    @Override
    public String mediaType() {
      return PNG_MEDIA_TYPE;
    }

    @Override
    public int sizeBytes() {
      return png == null ? 0 : png.length;
    }

    @Override
    public boolean equals(Object other) {
      return other instanceof Png that && sampleId == that.sampleId && label == that.label
          && predicted == that.predicted && Arrays.equals(png, that.png);
    }

    @Override
    public int hashCode() {
      return 31 * Long.hashCode(sampleId) + Arrays.hashCode(png);
    }

    @Override
    public String toString() {
      return "Png[sampleId=" + sampleId + ", label=" + label + ", predicted=" + predicted + ", " + sizeBytes()
          + " bytes]";
    }
  }

  /**
   * The leading features of a tabular sample, at most {@link #MAX_FEATURES}.
   *
   * @param values the features, in the dataset's column order (after the trainer's own preprocessing, if it says so)
   */
  record Features(long sampleId, int label, int predicted, float[] values) implements HardExamplePayload {
    @Override
    public String mediaType() {
      return FEATURES_MEDIA_TYPE;
    }

    @Override
    public int sizeBytes() {
      return values == null ? 0 : 4 * values.length;
    }

    @Override
    public boolean equals(Object other) {
      return other instanceof Features that && sampleId == that.sampleId && label == that.label
          && predicted == that.predicted && Arrays.equals(values, that.values);
    }

    @Override
    public int hashCode() {
      return 31 * Long.hashCode(sampleId) + Arrays.hashCode(values);
    }

    @Override
    public String toString() {
      return "Features[sampleId=" + sampleId + ", label=" + label + ", predicted=" + predicted + ", "
          + Arrays.toString(values) + "]";
    }
  }
}
