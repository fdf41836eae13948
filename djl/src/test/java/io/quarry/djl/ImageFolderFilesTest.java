package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Listing needs no image content: empty files with image names stand in for images. */
class ImageFolderFilesTest {
  @TempDir Path dir;

  private static void files(Path folder, String... names) throws IOException {
    Files.createDirectories(folder);
    for (String name : names) Files.createFile(folder.resolve(name));
  }

  private static RunConfig config(Path path) {
    return RunConfig.fromOverrides(List.of("trainer=djl", "dataset.format=image-folder", "dataset.path=\"" + path + "\"",
        "dataset.val-fraction=0.25"), Map.of());
  }

  @Test
  void classesAreSortedSubdirectoriesAndOnlyVisibleImagesCount() throws IOException {
    files(dir.resolve("dog"), "b.jpg", "a.PNG", "c.jpeg", ".hidden.png", "notes.txt", "Thumbs.db");
    files(dir.resolve("cat"), "1.png", "2.png", "3.png", "4.png", "5.png");
    files(dir.resolve(".cache"), "x.png");
    files(dir.resolve("cat").resolve("nested"), "deep.png");
    Files.createFile(dir.resolve("loose.png"));
    ImageFolderFiles listed = ImageFolderFiles.list(dir);
    assertEquals(List.of("cat", "dog"), listed.classes());
    assertEquals(List.of(dir.resolve("dog/a.PNG"), dir.resolve("dog/b.jpg"), dir.resolve("dog/c.jpeg")), listed.train().get(1));
    assertEquals(8, listed.trainImages());
    assertFalse(listed.hasVal());
    assertEquals(6, config(dir).datasetSamples()); // 8 less round(8 * 0.25)
  }

  @Test
  void trainAndValDirectoriesAreTheSplits() throws IOException {
    files(dir.resolve("train/a"), "1.png", "2.png", "3.png");
    files(dir.resolve("train/b"), "1.png");
    files(dir.resolve("val/b"), "9.png", "8.png");
    files(dir.resolve("test/a"), "7.png");
    ImageFolderFiles listed = ImageFolderFiles.list(dir);
    assertEquals(List.of("a", "b"), listed.classes());
    assertTrue(listed.hasVal());
    assertEquals(List.of(List.of(), List.of(dir.resolve("val/b/8.png"), dir.resolve("val/b/9.png"))), listed.val());
    assertEquals(4, config(dir).datasetSamples());
  }

  @Test
  void aTestDirectoryIsTheValidationSplitWithoutVal() throws IOException {
    files(dir.resolve("train/a"), "1.png", "2.png");
    files(dir.resolve("test/a"), "3.png");
    assertEquals(List.of(dir.resolve("test/a/3.png")), ImageFolderFiles.list(dir).val().get(0));
    assertEquals(2, config(dir).datasetSamples());
  }

  @Test
  void aLoneTrainDirectoryIsTheClassRoot() throws IOException {
    files(dir.resolve("train/a"), "1.png", "2.png", "3.png", "4.png");
    ImageFolderFiles listed = ImageFolderFiles.list(dir);
    assertEquals(List.of("a"), listed.classes());
    assertFalse(listed.hasVal());
    assertEquals(3, config(dir).datasetSamples());
  }

  @Test
  void aValidationClassThatTrainingLacksIsRefused() throws IOException {
    files(dir.resolve("train/a"), "1.png");
    files(dir.resolve("val/zebra"), "1.png");
    RunConfigException e = assertThrows(RunConfigException.class, () -> ImageFolderFiles.list(dir));
    assertTrue(e.getMessage().contains("zebra") && e.getMessage().contains("classes are a"), e.getMessage());
  }

  @Test
  void wrongLayoutsSayWhatIsExpected() throws IOException {
    RunConfigException e = assertThrows(RunConfigException.class, () -> config(dir.resolve("missing")).datasetSamples());
    assertTrue(e.getMessage().contains("dataset.path") && e.getMessage().contains("missing' is not a directory"), e.getMessage());

    Files.createFile(dir.resolve("a.png"));
    e = assertThrows(RunConfigException.class, () -> ImageFolderFiles.list(dir));
    assertTrue(e.getMessage().contains("no class subdirectories") && e.getMessage().contains(dir.toString()), e.getMessage());

    files(dir.resolve("a"), "readme.md");
    files(dir.resolve("b"));
    e = assertThrows(RunConfigException.class, () -> ImageFolderFiles.list(dir));
    assertTrue(e.getMessage().contains("no PNG or JPEG images in its 2 class subdirectories (a, b)"), e.getMessage());

    RunConfig noPath = RunConfig.fromOverrides(List.of("trainer=djl", "dataset.format=image-folder"), Map.of());
    e = assertThrows(RunConfigException.class, noPath::datasetSamples);
    assertTrue(e.getMessage().contains("'dataset.path': empty"), e.getMessage());
  }
}
