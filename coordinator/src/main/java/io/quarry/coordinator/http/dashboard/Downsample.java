package io.quarry.coordinator.http.dashboard;

/**
 * Largest-Triangle-Three-Buckets (Steinarsson, 2013): picks {@code target} of a series' points that keep its
 * visual shape — the first and the last, and from each bucket between them the point that makes the largest
 * triangle with the point picked before it and the mean of the next bucket. Spikes survive (a single diverging step
 * is kept), which a stride or a mean would hide. Linear in the number of points.
 */
final class Downsample {
  private Downsample() {}

  /**
   * The positions in {@code 0 .. n-1} to keep, ascending; all of them when {@code n <= target}. {@code x} must
   * not decrease; a non-finite {@code y} counts as the last finite one before it (it is shown, as a gap, by the
   * caller).
   */
  static int[] lttb(double[] x, double[] y, int n, int target) {
    if (n <= target) {
      int[] all = new int[n];
      for (int i = 0; i < n; i++) all[i] = i;
      return all;
    }
    if (target <= 2) return target <= 1 ? new int[] {n - 1} : new int[] {0, n - 1};
    double[] ys = finite(y, n);
    int[] picked = new int[target];
    picked[0] = 0;
    double every = (double) (n - 2) / (target - 2);
    int a = 0;
    for (int bucket = 0; bucket < target - 2; bucket++) {
      int nextStart = (int) Math.floor((bucket + 1) * every) + 1;
      int nextEnd = Math.min(n, (int) Math.floor((bucket + 2) * every) + 1);
      double meanX = 0;
      double meanY = 0;
      int count = Math.max(1, nextEnd - nextStart);
      for (int i = nextStart; i < nextEnd; i++) {
        meanX += x[i];
        meanY += ys[i];
      }
      meanX /= count;
      meanY /= count;
      int start = (int) Math.floor(bucket * every) + 1;
      int end = (int) Math.floor((bucket + 1) * every) + 1;
      double ax = x[a];
      double ay = ys[a];
      double largest = -1;
      int chosen = start;
      for (int i = start; i < end; i++) {
        double area = Math.abs((ax - meanX) * (ys[i] - ay) - (ax - x[i]) * (meanY - ay));
        if (area > largest) {
          largest = area;
          chosen = i;
        }
      }
      picked[bucket + 1] = chosen;
      a = chosen;
    }
    picked[target - 1] = n - 1;
    return picked;
  }

  private static double[] finite(double[] y, int n) {
    double[] out = new double[n];
    double last = 0;
    for (int i = 0; i < n; i++) {
      if (Double.isFinite(y[i])) last = y[i];
      out[i] = last;
    }
    return out;
  }
}
