package io.quarry.djl;

import io.quarry.config.RunConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The images of an image-folder dataset in the {@code dataset.path} directory: one subdirectory per class, holding that
 * class's PNG and JPEG files ({@code .png}, {@code .jpg}, {@code .jpeg}, any case). The class index is the position
 * of the subdirectory's name in sorted order; within a class, files are in sorted name order. Hidden files and
 * directories (names starting with '.'), files with other extensions and anything nested deeper are skipped.
 *
 * <p>When the directory holds {@code train/} and {@code val/} (or {@code test/}; {@code val/} wins when both exist),
 * each holding the class subdirectories, the second is the validation split; its classes must be among
 * {@code train/}'s. A lone {@code train/} is the class root, split by {@code dataset.val-fraction}.
 *
 * <p>The coordinator counts the training samples with this listing and the DJL trainer reads the files it lists, so
 * the counts agree.
 *
 * @param classes the class names (the training root's subdirectories), sorted; a label is an index into it
 * @param train each class's image files, sorted by name
 * @param val each class's validation image files (indexed as {@code classes}), or {@code null} without a validation
 *     directory
 */
public record ImageFolderFiles(Path root, List<String> classes, List<List<Path>> train, List<List<Path>> val) {
  private static final List<String> VAL_DIRS = List.of("val", "test");

  /** Lists {@code dir}; fails naming {@code dataset.path}, the path and what is wrong. */
  public static ImageFolderFiles list(Path dir) {
    if (!Files.isDirectory(dir)) {
      throw new RunConfigException("config key 'dataset.path': '" + dir + "' is not a directory; dataset.format = "
          + "image-folder needs a directory with one subdirectory of PNG/JPEG images per class, or train/ and val/ "
          + "(or test/) each holding them");
    }
    Path trainDir = dir.resolve("train");
    Path valDir = null;
    if (Files.isDirectory(trainDir)) {
      for (String name : VAL_DIRS) {
        if (valDir == null && Files.isDirectory(dir.resolve(name))) valDir = dir.resolve(name);
      }
    } else {
      trainDir = dir;
    }
    List<Path> classDirs = subdirectories(trainDir);
    if (classDirs.isEmpty()) {
      throw new RunConfigException("config key 'dataset.path': '" + trainDir + "' has no class subdirectories; "
          + "dataset.format = image-folder expects one directory of PNG/JPEG images per class (e.g. " + trainDir
          + "/cat/001.png), or train/ and val/ (or test/) each holding them");
    }
    List<String> classes = new ArrayList<>();
    List<List<Path>> train = new ArrayList<>();
    for (Path classDir : classDirs) {
      classes.add(classDir.getFileName().toString());
      train.add(images(classDir));
    }
    if (count(train) == 0) {
      throw new RunConfigException("config key 'dataset.path': '" + trainDir + "' has no PNG or JPEG images in its "
          + classes.size() + " class subdirectories (" + shortList(classes) + "); allowed: .png, .jpg, .jpeg files");
    }
    List<List<Path>> val = null;
    if (valDir != null) {
      val = new ArrayList<>();
      for (int c = 0; c < classes.size(); c++) val.add(List.of());
      for (Path classDir : subdirectories(valDir)) {
        int label = classes.indexOf(classDir.getFileName().toString());
        if (label < 0) {
          throw new RunConfigException("config key 'dataset.path': '" + classDir + "' is a class that '" + trainDir
              + "' does not have; its classes are " + shortList(classes));
        }
        val.set(label, images(classDir));
      }
      if (count(val) == 0) {
        throw new RunConfigException("config key 'dataset.path': '" + valDir + "' has no PNG or JPEG images in class "
            + "subdirectories; the validation split needs some (or remove it: dataset.val-fraction then holds samples out)");
      }
    }
    return new ImageFolderFiles(dir, List.copyOf(classes), List.copyOf(train), val == null ? null : List.copyOf(val));
  }

  /** True for a file name Quarry reads as an image: not hidden, ending in .png, .jpg or .jpeg (any case). */
  public static boolean isImage(Path file) {
    String name = file.getFileName().toString();
    String lower = name.toLowerCase(Locale.ROOT);
    return !name.startsWith(".") && (lower.endsWith(".png") || lower.endsWith(".jpg") || lower.endsWith(".jpeg"));
  }

  /** True when the dataset has its own validation directory. */
  public boolean hasVal() {
    return val != null;
  }

  /** The number of training images (before any val-fraction split). */
  public int trainImages() {
    return count(train);
  }

  /**
   * The training split's size: every training image when the dataset has a validation directory, else
   * {@link DjlSettings.Dataset#trainCount} of them.
   */
  public long trainingSamples(double valFraction) {
    return hasVal() ? trainImages() : DjlSettings.Dataset.trainCount(trainImages(), valFraction);
  }

  private static int count(List<List<Path>> byClass) {
    int n = 0;
    for (List<Path> files : byClass) n += files.size();
    return n;
  }

  private static List<Path> subdirectories(Path dir) {
    return sortedEntries(dir).stream()
        .filter(p -> !p.getFileName().toString().startsWith(".") && Files.isDirectory(p))
        .toList();
  }

  private static List<Path> images(Path dir) {
    return sortedEntries(dir).stream().filter(p -> isImage(p) && Files.isRegularFile(p)).toList();
  }

  /** Sorted by name (String order, the same on every machine and locale). */
  private static List<Path> sortedEntries(Path dir) {
    try (Stream<Path> entries = Files.list(dir)) {
      return entries.sorted((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString())).toList();
    } catch (IOException e) {
      throw new RunConfigException("cannot read dataset.path directory '" + dir + "': " + e);
    }
  }

  private static String shortList(List<String> names) {
    return names.size() <= 8 ? String.join(", ", names) : String.join(", ", names.subList(0, 8)) + ", ...";
  }
}
