package io.shardwise.evaluator;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DatasetsTest {
    @TempDir
    Path tmp;

    @Test
    void builtInConfiguredAndPathNamesResolve() throws IOException {
        Path data = tmp.resolve("data");
        Path wiki = data.resolve("text/wikitext-2/wikitext2_test.txt");
        Files.createDirectories(wiki.getParent());
        Files.writeString(wiki, "x");
        Path mine = tmp.resolve("mine.txt");
        Files.writeString(mine, "y");
        Path other = tmp.resolve("other/o.txt");
        Files.createDirectories(other.getParent());
        Files.writeString(other, "z");
        Datasets d = new Datasets(Optional.of(data), Map.of("mine", mine.toString()), List.of(tmp.resolve("other")), tmp.resolve("demo-cache"));
        assertEquals(wiki, d.resolve("wikitext2"));
        assertEquals(mine, d.resolve("mine"));
        assertEquals(other, d.resolve("file:" + other));
        assertEquals(wiki, d.resolve(wiki.toString()), "absolute paths under the data dir are allowed");
        IllegalArgumentException outside = assertThrows(IllegalArgumentException.class, () -> d.resolve(mine.toString()));
        assertTrue(outside.getMessage().contains("outside the allowed roots"), outside.getMessage());
        NoSuchFileException missing = assertThrows(NoSuchFileException.class, () -> d.resolve("tinystories"));
        assertTrue(missing.getMessage().contains("tinystories"), missing.getMessage());
        NoSuchFileException demo = assertThrows(NoSuchFileException.class, () -> d.resolve("demo"));
        assertTrue(demo.getMessage().contains("demo model is not cached"), demo.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> d.resolve("ptb"));
        assertTrue(unknown.getMessage().contains("wikitext2") && unknown.getMessage().contains("mine"), unknown.getMessage());
    }
}
