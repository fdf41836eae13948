package io.quarry.djl;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Synthetic images of drawn shapes ({@code dataset.synthetic = shapes}), deterministic from the seed: the same seed
 * gives the same bytes on every machine (one random stream, drawn in sample order; {@link StrictMath} for the
 * transcendental functions). {@value #CLASSES} classes, {@link #NAMES}; each sample draws its class uniformly and
 * jitters the shape's centre (±14% of the side), size, stroke width and rotation (±0.3 rad; the diagonal line leans
 * either way), then paints it anti-aliased over a darker background with per-pixel noise (up to ±16% of the range)
 * and a random contrast. With 3 channels the shape has a random hue and the background a dark tint. Pixel values are
 * 0..255, integral.
 *
 * <p>Tuned so that the small default CNN reaches about 95% validation accuracy on 4,000 samples in three epochs
 * while an MLP stays near 85%: learnable, with enough low-contrast, small or noisy samples to be hard examples.
 */
public final class ShapesDataset {
  public static final int CLASSES = 10;
  /** The class names, by label. */
  public static final List<String> NAMES = List.of("disc", "ring", "square", "square-outline", "triangle", "plus",
      "cross", "horizontal-bar", "vertical-bar", "diagonal-line");
  private static final long SALT = 0x5_4A9E5L;
  private static final double NOISE = 0.16 * 255;
  private static final double SQRT3 = Math.sqrt(3);

  private ShapesDataset() {}

  public static TabularData generate(int samples, int size, int channels, long seed) {
    if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels " + channels + "; allowed: 1 or 3");
    SplittableRandom random = new SplittableRandom(seed ^ SALT);
    SampleShape shape = SampleShape.image(channels, size, size);
    int plane = size * size;
    String source = "synthetic shapes(" + samples + " of " + shape + ", seed " + seed + ")";
    float[] x = new float[TabularData.values(source, samples, shape)];
    int[] y = new int[samples];
    float[] coverage = new float[plane];
    double[] foreground = new double[channels];
    double[] background = new double[channels];
    for (int i = 0; i < samples; i++) {
      int label = random.nextInt(CLASSES);
      y[i] = label;
      draw(label, size, random, coverage);
      colours(random, foreground, background);
      int offset = i * shape.size();
      for (int c = 0; c < channels; c++) {
        double bg = background[c];
        double contrast = foreground[c] - bg;
        for (int p = 0; p < plane; p++) {
          double noise = (random.nextDouble() + random.nextDouble() - 1) * NOISE;
          x[offset + c * plane + p] = Images.toByte(bg + contrast * coverage[p] + noise);
        }
      }
    }
    return new TabularData(source, shape, x, y, CLASSES);
  }

  /** Fills {@code coverage} (0..1 per pixel) with a jittered shape of class {@code label}. */
  private static void draw(int label, int size, SplittableRandom random, float[] coverage) {
    double cx = size * (0.5 + uniform(random, -0.14, 0.14));
    double cy = size * (0.5 + uniform(random, -0.14, 0.14));
    double r = size * uniform(random, 0.18, 0.34);
    double stroke = Math.max(1.2, size * uniform(random, 0.06, 0.11));
    double angle = uniform(random, -0.3, 0.3);
    if (label == 6) angle += Math.PI / 4;
    if (label == 9) angle += random.nextBoolean() ? Math.PI / 4 : -Math.PI / 4;
    double cos = StrictMath.cos(angle);
    double sin = StrictMath.sin(angle);
    for (int py = 0; py < size; py++) {
      for (int px = 0; px < size; px++) {
        double dx = px + 0.5 - cx;
        double dy = py + 0.5 - cy;
        double u = cos * dx + sin * dy;
        double v = cos * dy - sin * dx;
        double distance = distance(label, u, v, r, stroke);
        coverage[py * size + px] = (float) Math.max(0, Math.min(1, 0.5 - distance));
      }
    }
  }

  /** Signed distance in pixels from (u, v), relative to the shape's centre and rotation, to the shape: < 0 inside. */
  private static double distance(int label, double u, double v, double r, double stroke) {
    double half = stroke / 2;
    return switch (label) {
      case 0 -> Math.sqrt(u * u + v * v) - r;
      case 1 -> Math.abs(Math.sqrt(u * u + v * v) - (r - half)) - half;
      case 2 -> box(u, v, r * 0.85, r * 0.85);
      case 3 -> Math.abs(box(u, v, r * 0.85 - half, r * 0.85 - half)) - half;
      case 4 -> triangle(u, v, r * 1.15);
      case 5, 6 -> Math.min(box(u, v, r, half), box(u, v, half, r));
      case 7 -> box(u, v, r, stroke * 0.75);
      case 8 -> box(u, v, stroke * 0.75, r);
      case 9 -> box(u, v, r * 1.1, half);
      default -> throw new IllegalArgumentException("no shape " + label);
    };
  }

  private static double box(double u, double v, double halfWidth, double halfHeight) {
    double qx = Math.abs(u) - halfWidth;
    double qy = Math.abs(v) - halfHeight;
    double ox = Math.max(qx, 0);
    double oy = Math.max(qy, 0);
    return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0);
  }

  /** An equilateral triangle of side {@code 2 * half}, pointing up (image rows grow downwards). */
  private static double triangle(double u, double v, double half) {
    double px = Math.abs(u) - half;
    double py = -v + half / SQRT3;
    if (px + SQRT3 * py > 0) {
      double nx = (px - SQRT3 * py) / 2;
      double ny = (-SQRT3 * px - py) / 2;
      px = nx;
      py = ny;
    }
    px -= Math.max(-2 * half, Math.min(0, px));
    return -Math.sqrt(px * px + py * py) * Math.signum(py);
  }

  /** A bright foreground and a dark background, 0..255 per channel: gray, or a random hue on a dark tint. */
  private static void colours(SplittableRandom random, double[] foreground, double[] background) {
    if (foreground.length == 1) {
      foreground[0] = 255 * uniform(random, 0.5, 1.0);
      background[0] = 255 * uniform(random, 0.0, 0.3);
      return;
    }
    double hue = random.nextDouble() * 6;
    double saturation = uniform(random, 0.5, 1.0);
    double value = 255 * uniform(random, 0.6, 1.0);
    int sector = (int) hue;
    double f = hue - sector;
    double p = value * (1 - saturation);
    double q = value * (1 - saturation * f);
    double t = value * (1 - saturation * (1 - f));
    double[] rgb = switch (sector) {
      case 0 -> new double[] {value, t, p};
      case 1 -> new double[] {q, value, p};
      case 2 -> new double[] {p, value, t};
      case 3 -> new double[] {p, q, value};
      case 4 -> new double[] {t, p, value};
      default -> new double[] {value, p, q};
    };
    System.arraycopy(rgb, 0, foreground, 0, 3);
    for (int c = 0; c < 3; c++) background[c] = 255 * uniform(random, 0.0, 0.3);
  }

  private static double uniform(SplittableRandom random, double from, double to) {
    return from + random.nextDouble() * (to - from);
  }
}
